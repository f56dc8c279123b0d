"""The detection summary: one message per period with counts per outcome,
instead of one e-mail per image. Scheduled daily; also run on demand."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from .runtime import context
from .runtime.events import UnrecognisedEvent
from .runtime.lambda_entry import entry_point
from .runtime.stuck import diagnose

OUTCOMES = {
    "confident": "confident (no review)",
    "to_training": "sent to review (training)",
    "to_audit": "sent to review (audit)",
    "no_label": "no label returned",
    "skipped": "skipped (not an image)",
    "unreadable": "unreadable image",
    "failed": "failed after retries",
}
REVIEWS = {
    "reviews_started_training": "reviews started (training)",
    "reviews_started_audit": "reviews started (audit)",
    "reviews_accepted": "answers added to training data",
    "reviews_rejected": "answers rejected",
    "reviews_audited": "audits completed",
    "reviews_unresolved": "reviews unresolved (reviewers disagree)",
    "reviews_expired": "review tasks expired unanswered",
    "reviews_deleted": "reviews of images their uploaders deleted (not trained)",
    "copies_removed": "copies taken out of the dataset (deleted or forgotten images)",
    "review_answers": "answers given in the review app",
    "outputs_rejected": "malformed A2I outputs",
    "replayed": "pending images detected",
}


def summary_lines(stats: dict) -> list[tuple[str, int]]:
    rows = [(label, int(stats.get(f"outcome_{key}", 0))) for key, label in OUTCOMES.items()]
    rows += [(label, int(stats.get(key, 0))) for key, label in REVIEWS.items()]
    return [(label, n) for label, n in rows if n]


def send_summary(day: str) -> dict:
    stats = context.table().day_stats(day)
    detections = stats.detections
    rows = summary_lines(stats.counts)
    table = context.table()
    loop, dataset = table.loop_and_dataset()
    # An image that waits is counted among the day's detections once it is detected: say what waits now.
    waiting = table.waiting()
    if waiting.count:
        rows.append((f"waiting for a model now (the first since {waiting.oldest_at})", waiting.count))
    footer = f"Active model: {loop.active_version or 'none yet'}; open reviews: {loop.open_reviews}."
    stuck = diagnose(loop, dataset, context.settings(), table.models())
    footer += "".join(f"\nStuck: {s.line()}" for s in stuck)
    context.notifier().send(f"{detections} images on {day}", f"Detections on {day} (UTC): {detections}",
                            rows or [("nothing happened", "")], footer)
    return {"day": day, "detections": detections, "rows": dict(rows), "stuck": [s.line() for s in stuck]}


def day_of(event) -> str:
    """The day asked for (``{"day": "YYYY-MM-DD"}``), else yesterday (UTC)."""
    day = event.get("day") if isinstance(event, dict) else None
    if not day:
        return (datetime.now(timezone.utc) - timedelta(days=1)).strftime("%Y-%m-%d")
    try:
        return datetime.strptime(str(day), "%Y-%m-%d").strftime("%Y-%m-%d")
    except ValueError:
        raise UnrecognisedEvent(f"the summary's day {day!r} is not a date (YYYY-MM-DD)") from None


@entry_point
def handler(event: dict) -> dict:
    return send_summary(day_of(event))
