"""Reviews in Label Studio: one task per review, answers by webhook and by a scheduled reconcile, both
ending in the shared review outcome (``handlers/review_outcome.py``).

* **Opening** a review (``handlers/review_backends/labelstudio.py``) makes its Label Studio task —
  looked up by the review's name in the task data before it is created, so a repeated start never
  makes a second one — and StartReview records the review as a task of the open index (its priority,
  the annotations it wants and the most it may ask for, its expiry), as the builtin review app's. When
  Label Studio is down or refuses, the review is recorded all the same and waits: the reconcile makes
  its task later.
* **The image** is the stack's image route with a signature only this review's link has
  (``/labelstudio/images/<review>?sig=…``): each view is redirected to a short-lived presigned URL of
  the exact version detected. A link never expires while its review lives, Label Studio needs no
  AWS credentials, and a deleted image stops showing at once.
* **Answers**: Label Studio's webhook (an annotation created or updated) names a task; its
  annotations are read back from Label Studio (the truth, and every annotator of it), one answer per
  annotator, skips left out. With as many answers as the task wants (``Reviewers-Per-Image``, or more
  when the label policy asked for them: the task's overlap in Label Studio is raised so its stream
  serves it to another annotator) the label decision closes the review — once: a webhook and the
  reconcile racing, or a duplicate delivery, close it once and copy once.
* **After closing**: an annotation edited (or added) afterwards that disagrees with the result is
  reported once and not applied. Reviews that expired or whose image was deleted have their Label
  Studio task deleted.
"""

from __future__ import annotations

import hmac
from datetime import timedelta
from typing import Any, Iterable, Mapping

from plugins import WorkerAnswer

from .. import review_outcome
from ..runtime import aws, config, context, state
from ..runtime.state import ReviewTask
from . import labeling, settings
from .client import LabelStudio, Refused, Unavailable

# StartReview has 15 s: its cold start, the token's read and the review's record fit beside this.
PUSH_SECONDS = 8.0
PRESIGNED_SECONDS = 300  # an image view's presigned URL: the route is asked again for each view
OPEN_PAGE = 1000  # open reviews read per Query by the reconcile
RECONCILER = "labelloop:labelstudio-reconcile"  # reads the open index as no reviewer has seen it
CREATE_AFTER = timedelta(minutes=2)  # a review still without a task this long after it opened gets one
RECENT = timedelta(hours=1)  # the reconcile reads at least this far back: edits after a review closed
MAX_OPEN_PAGES = 50


def push(task: ReviewTask, detection: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Make the review's Label Studio task (or find the one made before), within ``PUSH_SECONDS``.
    Label Studio down or too slow, refusing the token or with a project that does not fit the labels:
    the review waits (the reconcile makes its task once Label Studio works), and a refusal is reported
    to the operator once."""
    try:
        with _ls().within(PUSH_SECONDS):
            ls, project = _project()
            made, created = ls.create_task(project, task.name, settings.image_url(task.name),
                                           overlap=task.reviewers or 1, predictions=_predictions(task, detection or {}))
    except (Unavailable, Refused, labeling.ConfigMismatch) as exc:
        context.logger.warning("Label Studio cannot take the task now: the review waits for the reconcile",
                               extra={"human_loop": task.name, "error": str(exc)})
        context.metrics.add_metric(name="LabelStudioUnavailable", unit="Count", value=1)
        if not isinstance(exc, Unavailable) and context.table().first_alert("labelstudio-refused", str(exc)[:200], str(exc)):
            context.announce("review_waiting", f"Label Studio refused a review's task: {exc}",
                             {"human_loop": task.name}, notify=True,
                             footer="Reviews wait in labelloop; the reconcile makes their tasks once this is fixed.")
        return {"labelstudio": "waiting", "reason": str(exc)}
    return {"labelstudio": "created" if created else "found", "labelstudio_task": made["id"]}


def task_of(task_id: int, review: str) -> dict[str, Any] | None:
    """Label Studio's task ``task_id`` with its annotations, if it is still the task of ``review``
    (an instance may give a deleted task's id to a new one)."""
    found = _ls().task(task_id)
    if found is None or (found.get("data") or {}).get(labeling.REVIEW_FIELD) != review:
        return None
    return found


def settle(ls_task: Mapping[str, Any]) -> dict[str, Any]:
    """What a Label Studio task's annotations mean for its review, now (webhook and reconcile alike)."""
    review = (ls_task.get("data") or {}).get(labeling.REVIEW_FIELD)
    record = context.table().review(review) if isinstance(review, str) else None
    if record is None:
        return {"labelstudio_task": ls_task.get("id"), "status": "ignored", "reason": "not a review of this stack"}
    answers = worker_answers(ls_task.get("annotations") or ())
    if record.status == "open":
        return _decide(record, ls_task, answers)
    if record.status in ("expired", "deleted"):
        _ls().delete_task(ls_task["id"])
        return {"human_loop": record.name, "status": record.status, "labelstudio": "task deleted"}
    _report_late(record, ls_task, answers)
    return review_outcome.resume(record)


def _decide(record: ReviewTask, ls_task: Mapping[str, Any], answers: tuple[WorkerAnswer, ...]) -> dict[str, Any]:
    wanted = max(record.reviewers or 1, int(ls_task.get("overlap") or 1))
    if len(answers) < wanted:
        return {"human_loop": record.name, "status": "open", "answers": len(answers), "wanted": wanted}
    if state.from_iso(record.expires_at or state.now_iso()) <= state.utcnow():
        return {"human_loop": record.name, "status": "open", "reason": "past its lifetime: the reconcile expires it"}
    verdict = review_outcome.decide(record, answers, maximum=record.max_reviewers)
    if verdict.status == review_outcome.MORE:
        _ls().set_overlap(ls_task["id"], verdict.wants)
        return {"human_loop": record.name, "status": "open", "answers": len(answers), "wanted": verdict.wants}
    return review_outcome.conclude(record, verdict, {"labelstudio_task": ls_task["id"]}, defer_copy=True)


def worker_answers(annotations: Iterable[Mapping[str, Any]]) -> tuple[WorkerAnswer, ...]:
    """One answer per annotator: their latest annotation that chose a label (skips are no answers)."""
    latest: dict[str, Mapping[str, Any]] = {}
    for annotation in sorted(annotations, key=lambda a: (str(a.get("updated_at") or ""), a.get("id") or 0)):
        if labeling.answer_label(annotation) is not None:
            latest[annotator(annotation)] = annotation
    return tuple(WorkerAnswer(worker, labeling.answer_label(a), str(a.get("updated_at") or a.get("created_at") or ""),
                              a.get("lead_time")) for worker, a in sorted(latest.items()))


def annotator(annotation: Mapping[str, Any]) -> str:
    """``labelstudio:<user id>``: the id, which every API answer gives (some expand the user, some do not)."""
    who = annotation.get("completed_by")
    return f"labelstudio:{who.get('id') if isinstance(who, Mapping) else who}"


def _report_late(record: ReviewTask, ls_task: Mapping[str, Any], answers: tuple[WorkerAnswer, ...]) -> None:
    """Answers that disagree with a closed review's result (edited, or added, after it closed) are
    reported once each, and not applied."""
    result = record.result or {}
    decided = {a.get("worker"): a.get("label") for a in result.get("answers") or ()}
    final = result.get("label")
    for answer in answers:
        if answer.worker_id in decided:
            if answer.label == decided[answer.worker_id]:
                continue
        elif record.status != "accepted" or answer.label == final:
            continue  # a late answer that agrees, or one to a review that trained nothing
        what = "edited" if answer.worker_id in decided else "added"
        message = (f"a Label Studio annotation of {record.name} was {what} after the review closed {record.status}"
                   f"{f' as {final!r}' if record.status == 'accepted' else ''}: {answer.worker_id} now says "
                   f"{answer.label!r}; not applied")
        if context.table().first_alert("labelstudio-late-answer", f"{record.name}#{answer.worker_id}#{answer.submitted_at}", message):
            context.announce("review_changed", message, {"human_loop": record.name, "labelstudio_task": ls_task.get("id"),
                                                         "worker": answer.worker_id, "label": answer.label},
                             notify=True, footer="To change the training data: labelloop forget the image, then upload it again.")


def withdraw(record: ReviewTask) -> dict[str, Any]:
    """Remove a review's Label Studio task (the review expired, or its image was deleted or forgotten):
    the state table decided first; a task Label Studio could not remove now (down, or refusing) goes
    when it is next settled."""
    try:
        ls, project = _project()
        removed = [t["id"] for t in ls.tasks_of_review(project, record.name) if ls.delete_task(t["id"])]
    except (Unavailable, Refused, labeling.ConfigMismatch) as exc:
        return {"human_loop": record.name, "labelstudio": "unavailable", "reason": str(exc)}
    return {"human_loop": record.name, "labelstudio": "task deleted" if removed else "no task"}


# -- the reconcile ---------------------------------------------------------------------------------------
def reconcile() -> dict[str, Any]:
    """Every few minutes: the project and the webhook put right, expired reviews closed (and their tasks
    removed), tasks made for reviews still without one, and every task changed since the oldest open
    review opened settled — what a lost webhook, or an instance behind a firewall, left undone."""
    now = state.utcnow()
    at, table = state.iso(now), context.table()
    expired = _expire(table, at)
    entries = list(_open_entries(table, at))
    try:
        ls, project = _project()
        webhook = _webhook(ls, project)
        for entry in expired:
            withdraw(entry)
        oldest = min((state.from_iso(e.cursor.split("#", 2)[1]) for e in entries), default=now)
        since = min(oldest, now - RECENT) - timedelta(minutes=1)
        by_review: dict[str, list[dict[str, Any]]] = {}
        for ls_task in ls.tasks_changed_since(project, since):
            by_review.setdefault(str((ls_task.get("data") or {}).get(labeling.REVIEW_FIELD)), []).append(ls_task)
        settled, created, closed = 0, 0, 0
        for review, tasks in by_review.items():
            tasks.sort(key=lambda t: t["id"])
            for extra in tasks[1:]:  # never made by labelloop's lookup-before-create; removed all the same
                ls.delete_task(extra["id"])
            outcome = settle(tasks[0])
            settled += 1
            closed += outcome.get("status") not in (None, "open", "ignored") and not outcome.get("duplicate")
        for entry in entries:
            opened = state.from_iso(entry.cursor.split("#", 2)[1])
            if entry.name not in by_review and now - opened >= CREATE_AFTER and not ls.tasks_of_review(project, entry.name):
                record = table.review(entry.name)
                if record is not None and record.status == "open":
                    created += push(record).get("labelstudio") == "created"
    except Unavailable as exc:
        context.metrics.add_metric(name="LabelStudioUnavailable", unit="Count", value=1)
        context.logger.warning("Label Studio is unavailable: the reconcile tries again on its next run",
                               extra={"error": str(exc)})
        return {"labelstudio": "unavailable", "reason": str(exc), "expired": len(expired), "open": len(entries)}
    return {"labelstudio": "reachable", "webhook": webhook, "expired": len(expired), "open": len(entries),
            "settled": settled, "closed": closed, "created": created}


def _expire(table, at: str) -> list[ReviewTask]:
    view = table.open_task_overview(at, MAX_OPEN_PAGES)
    expired: list[ReviewTask] = []
    for start in range(0, len(view.expired), state.MAX_EXPIRED_PER_CALL):
        batch = list(view.expired[start:start + state.MAX_EXPIRED_PER_CALL])
        if table.expire_review_tasks(batch, at):
            expired += batch
    if expired:
        context.metrics.add_metric(name="Reviews_expired", unit="Count", value=len(expired))
    return expired


def _open_entries(table, at: str):
    after = None
    for _ in range(MAX_OPEN_PAGES):
        page = table.open_tasks(RECONCILER, at, OPEN_PAGE, after)
        yield from page
        after = page.last
        if after is None:
            return


def _webhook(ls: LabelStudio, project: int) -> str:
    _, changed = ls.ensure_webhook(project, settings.webhook_url(), {settings.SECRET_HEADER: settings.webhook_secret()})
    return "registered" if changed else "in place"


# -- Label Studio's side ---------------------------------------------------------------------------------
_projects: dict[tuple[str, str, tuple[str, ...]], int] = {}


def _ls() -> LabelStudio:
    return settings.client()


def _project() -> tuple[LabelStudio, int]:
    """The client and the project's id: found or created once per container, its config checked then."""
    ls, cfg, title = _ls(), config.current(), settings.current().project
    key = (ls.url, title, cfg.labels)
    if key not in _projects:
        _projects[key] = ls.project(title, cfg.labels)["id"]
    return ls, _projects[key]


def _predictions(task: ReviewTask, detection: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The model's best guess as a Label Studio prediction — only when the stack asks for it: a
    pre-selected answer pulls reviewers towards the model, which is what review is there to check."""
    if not settings.current().predictions:
        return []
    labels = [dict(s) for s in (detection.get("labels") or task.model_labels or ())]
    top = max(labels, key=lambda s: float(s.get("confidence", 0)), default=None)
    if top is None or top.get("name") not in config.current().labels:
        return []
    return [{"model_version": task.model_version or "labelloop", "score": round(float(top["confidence"]) / 100, 4),
             "result": labeling.choice_result(str(top["name"]))}]


def presigned_image(review: str, signature: str) -> str | None:
    """A short-lived URL of a review's image version, for a link whose signature is right; None when
    the link is wrong or the review's image was deleted."""
    if not hmac.compare_digest(signature.encode(), settings.image_signature(review).encode()):
        return None
    record = context.table().review(review)
    if record is None or record.status == "deleted" or record.copy == "removed":
        return None
    bucket, _, key = record.image_uri.removeprefix("s3://").partition("/")
    params = {"Bucket": bucket, "Key": key, **({"VersionId": record.image_version} if record.image_version else {})}
    return aws.client("s3").generate_presigned_url("get_object", Params=params, ExpiresIn=PRESIGNED_SECONDS)


def reset() -> None:
    _projects.clear()
    settings.reset()

