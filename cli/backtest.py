"""Replaying recorded detections through policies. Pure: no AWS, no printing.

A recorded detection (one line of ``labelloop export``) holds every label
score the model gave, the model version, the time and what the loop decided.
:func:`replay` asks a policy engine the review question again for each of
them, in time order, with the facts the loop would have given it:

* ``detection_id`` — as recorded (audit sampling draws from it, so a replay
  samples the images the stack sampled);
* ``reviews_today`` — the reviews *this* replay started earlier on the same
  UTC day (what a daily budget counts).

Operator switches bind the replay as they bind the stack (the same engine
refuses what a switch that is off turns off, whatever the policies say), and
each column counts the reviews they refused, by switch.

When an image's true label is known (a sandbox run knows all of them), each
review the policies would start is answered with it and the engine's
label decision says whether the answer would become training data; and
every detection whose top label is not the true label is a model error that
a review catches or that slips through.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

from plugins import Detection, LabelScore, PolicyError, ReviewResult, WorkerAnswer

# Outcomes of a detection that reached the model and got a review decision.
REPLAYED = ("confident", "to_training", "to_audit", "no_label")
NO_LABEL = "(no label)"


class BadEvent(ValueError):
    """A recorded detection that cannot be replayed; the message says which and why."""


@dataclass(frozen=True)
class Event:
    """One recorded detection, as exported."""

    detection_id: str
    image_uri: str
    detected_at: str
    model_version: str
    labels: tuple[LabelScore, ...]
    outcome: str | None = None
    decision: Mapping[str, Any] | None = None
    review_status: str | None = None
    human_label: str | None = None
    true_label: str | None = None
    at: datetime = field(default=datetime.min.replace(tzinfo=timezone.utc), compare=False)

    @property
    def top(self) -> str | None:
        best = max(self.labels, key=lambda s: s.confidence, default=None)
        return best.name if best else None

    @property
    def is_error(self) -> bool | None:
        """Is the model wrong (top label not the true label)? None when the truth is unknown."""
        return None if self.true_label is None else self.top != self.true_label


def parse_time(text: Any, where: str) -> datetime:
    if not isinstance(text, str) or not text:
        raise BadEvent(f"{where}: detected_at is missing (an ISO time like 2026-01-01T12:00:00Z is needed)")
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadEvent(f"{where}: detected_at {text!r} is not an ISO time like 2026-01-01T12:00:00Z") from None
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def event_from_record(record: Mapping[str, Any], where: str = "record") -> Event:
    """An exported record (a line of `labelloop export`) as an Event; raises BadEvent."""
    if not isinstance(record, Mapping):
        raise BadEvent(f"{where}: expected a JSON object, got {type(record).__name__}")
    raw_labels = record.get("labels")
    if raw_labels is None:
        raw_labels = []
    if not isinstance(raw_labels, list):
        raise BadEvent(f"{where}: labels must be a list of {{\"name\", \"confidence\"}} objects")
    labels = []
    for score in raw_labels:
        try:
            labels.append(LabelScore(str(score["name"]), float(score["confidence"])))
        except (KeyError, TypeError, ValueError):
            raise BadEvent(f"{where}: label score {score!r} needs a name and a numeric confidence") from None
    decision = record.get("decision")
    human = record.get("review_status")
    return Event(
        detection_id=str(record.get("detection_id") or where), image_uri=str(record.get("image_uri") or ""),
        detected_at=str(record.get("detected_at")), model_version=str(record.get("model_version") or "-"),
        labels=tuple(labels), outcome=record.get("outcome"),
        decision=dict(decision) if isinstance(decision, Mapping) else None,
        review_status=str(human) if human else None,
        human_label=record.get("human_label") if record.get("human_label") not in (None, "-") else None,
        true_label=record.get("true_label") or None,
        at=parse_time(record.get("detected_at"), where))


def reason_kind(reason: str) -> str:
    """A reason with its particulars blanked, so reviews group by rule: quoted names → '…', numbers → N."""
    return re.sub(r"\d+(\.\d+)?", "N", re.sub(r"'[^']*'", "'…'", reason or "-"))


@dataclass
class Tally:
    """Reviews started by one column (the recorded decisions, or one set of policies)."""

    name: str
    policies: list[str] | None = None
    settings: dict[str, str] | None = None
    detections: int = 0
    reviews: int = 0
    by_purpose: Counter = field(default_factory=Counter)
    by_policy: Counter = field(default_factory=Counter)
    by_reason: Counter = field(default_factory=Counter)
    by_label: Counter = field(default_factory=Counter)
    known: int = 0  # detections with a true label
    reviews_known: int = 0  # reviews of detections with a true label
    model_errors: int = 0
    errors_caught: int = 0
    added_to_training: int | None = None
    added_by_label: Counter = field(default_factory=Counter)
    refused_by_switch: Counter = field(default_factory=Counter)  # reviews a policy asked for that a switch refused

    def count(self, event: Event, review: bool, purpose: str | None, policy: str | None, reason: str,
              switches: frozenset[str] = frozenset()) -> None:
        self.detections += 1
        error = event.is_error
        if error is not None:
            self.known += 1
            self.model_errors += error
        if not review:
            if policy in switches:  # a switch decides only when it refuses
                self.refused_by_switch[policy] += 1
            return
        self.reviews += 1
        self.by_purpose[purpose or "?"] += 1
        self.by_policy[f"{policy or '?'} / {purpose or '?'}"] += 1
        self.by_reason[reason_kind(reason)] += 1
        self.by_label[event.top or NO_LABEL] += 1
        if error is not None:
            self.reviews_known += 1
            self.errors_caught += error

    def summary(self) -> dict[str, Any]:
        truth = self.known > 0
        return {
            "name": self.name, "policies": self.policies, "settings": self.settings,
            "detections": self.detections, "reviews": self.reviews,
            "reviews_per_100_detections": _per100(self.reviews, self.detections),
            "by_purpose": {p: self.by_purpose.get(p, 0) for p in ("training", "audit")} | dict(self.by_purpose),
            "audit_share": (self.by_purpose.get("audit", 0) / self.reviews) if self.reviews else None,
            "by_policy": dict(self.by_policy.most_common()),
            "by_reason": dict(self.by_reason.most_common()),
            "by_label": dict(sorted(self.by_label.items())),
            "true_labels_known": self.known,
            "model_errors": self.model_errors if truth else None,
            "errors_caught": self.errors_caught if truth else None,
            "errors_slipped": self.model_errors - self.errors_caught if truth else None,
            "errors_caught_per_100_reviews": _per100(self.errors_caught, self.reviews_known) if truth else None,
            "added_to_training": self.added_to_training,
            "added_by_label": dict(sorted(self.added_by_label.items())) if self.added_to_training is not None else None,
            "refused_by_switch": dict(self.refused_by_switch.most_common()),
        }


def _per100(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def ordered(events: Iterable[Event]) -> tuple[list[Event], Counter]:
    """The replayable detections in time order, and how many of the others there were, by outcome."""
    keep, skipped = [], Counter()
    for event in events:
        if event.outcome is None or event.outcome in REPLAYED:
            keep.append(event)
        else:
            skipped[event.outcome] += 1
    keep.sort(key=lambda e: e.at)  # stable: equal times keep the file's order
    return keep, skipped


def switch_names(engine) -> frozenset[str]:
    """The operator switches ``engine``'s catalog declares: the policy a refused decision names."""
    return frozenset(spec.name for spec in engine.catalog.switches())


def recorded(events: list[Event], switches: frozenset[str] = frozenset()) -> Tally | None:
    """What the loop decided, from the records; None when no record carries a decision."""
    if not any(e.decision for e in events):
        return None
    tally = Tally("recorded", added_to_training=0)
    for event in events:
        decision = event.decision or {}
        tally.count(event, bool(decision.get("review")), decision.get("purpose"), decision.get("policy"),
                    decision.get("reason", ""), switches)
        if event.review_status == "accepted":
            tally.added_to_training += 1
            tally.added_by_label[event.human_label or "?"] += 1
    return tally


def replay(events: list[Event], engine, settings, label_set: tuple[str, ...], name: str) -> Tally:
    """Ask ``engine`` the review question for each event (in order) and, with a true label, the label question."""
    tally = Tally(name, added_to_training=0 if any(e.true_label for e in events) else None)
    reviews_per_day: Counter = Counter()
    switches = switch_names(engine)
    for event in events:
        try:
            _replay_event(event, engine, settings, label_set, tally, reviews_per_day, switches)
        except PolicyError as exc:  # a broken policy: one line naming it and the detection, no traceback
            raise PolicyError(f"{exc} (replaying detection {event.detection_id} through {name})") from exc
    return tally


def _replay_event(event: Event, engine, settings, label_set: tuple[str, ...], tally: Tally,
                  reviews_per_day: Counter, switches: frozenset[str]) -> None:
    day = event.at.astimezone(timezone.utc).strftime("%Y-%m-%d")
    facts = Detection(event.detection_id, event.image_uri, event.model_version, event.labels,
                      reviews_today=reviews_per_day[day], detected_at=event.detected_at)
    decision = engine.review(facts, settings)
    tally.count(event, decision.review, decision.purpose, decision.policy, decision.reason, switches)
    if not decision.review:
        return
    reviews_per_day[day] += 1
    if event.true_label is not None:
        answer = ReviewResult(f"backtest-{event.detection_id}", event.detection_id, event.image_uri,
                              decision.purpose, (WorkerAnswer("backtest", event.true_label),), label_set,
                              facts.labels)
        verdict = engine.label(answer, settings)
        if verdict.accept:
            tally.added_to_training += 1
            tally.added_by_label[verdict.label] += 1


def label_set_of(events: Iterable[Event], known: Iterable[str] = ()) -> tuple[str, ...]:
    """The stack's labels when known, else every label the model scored or a true label named."""
    labels = list(known)
    if labels:
        return tuple(labels)
    names = {s.name for e in events for s in e.labels} | {e.true_label for e in events if e.true_label}
    return tuple(sorted(names))
