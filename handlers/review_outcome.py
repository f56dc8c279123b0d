"""What happens once a review has its answers, the same for every review backend
(``handlers/review_backends/``): an A2I output (``handlers/review_output.py``) and the builtin review
app's answers (``handlers/review_api.py``) both become a :class:`plugins.ReviewResult` and go
through here.

The label decision (the ``label_decision`` hook) accepts a label, refuses, or asks for more answers
— which the builtin review app gets from other reviewers up to the task's maximum; a review that
cannot have them is closed as unresolved. An audit's answers never become training data.

Exactly once, by construction: a training (or gate-set) copy exists if and only if its review closed
``accepted`` with that label. The conditional write that closes the review is the claim — of two
racing answers, or an answer racing the expiry sweep, one closes it and the other changes nothing —
and it notes the copy it licenses as pending. Only then is the reviewed version (pinned: an overwrite
during the review changes nothing) copied into its label folder under a key the reviewers' text never
reaches, and the copy marked done, counting the training image. A crash or a throttle between the two
leaves an accepted review with a pending copy, which :func:`complete_copy` finishes later (the dataset
sweep, the backend's retry, ``labelloop replay --copies``) — never a copy without its accepted review.
An image its uploader deleted is not copied: its review is ``deleted`` (``handlers/dataset.py``
removes the copies of an image deleted later).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from plugins import LabelDecision, LabelScore, ReviewResult, WorkerAnswer

from .review_backends.interface import review_backend
from .runtime import aws, config, context, layout
from .runtime.clock import now_iso
from .runtime.state import AlreadyAnswered, AlreadyDone, Closing, CopyWithdrawn, PendingCopy, ReviewTask

MORE = "more"  # not a status: the review stays open for more answers
GONE = ("NoSuchKey", "NoSuchVersion")


@dataclass(frozen=True)
class Verdict:
    """The label decision on a review's answers, and what it means for the review: its ``status``
    (accepted, rejected, audited, unresolved), or ``MORE`` with the answers it now ``wants``."""

    status: str
    decision: LabelDecision
    answers: tuple[WorkerAnswer, ...]
    wants: int = 0

    @property
    def details(self) -> dict[str, Any]:
        """What the review's record keeps of it (never shown to reviewers)."""
        reason = self.decision.reason
        if self.status == "unresolved":
            reason += f"; {len(self.answers)} answers, the most this review may have"
        return {"reason": reason, "policy": self.decision.policy,
                "answers": [{"worker": a.worker_id, "label": a.label} for a in self.answers],
                **({"label": self.decision.label} if self.decision.accept else {})}


def decide(task: ReviewTask, answers: tuple[WorkerAnswer, ...], *, maximum: int | None = None) -> Verdict:
    """Ask the policies about a review's answers. ``maximum``: how many answers it may have in all
    (the builtin review app; None: these are all there will be)."""
    cfg = config.current()
    scores = tuple(LabelScore(str(s["name"]), float(s["confidence"])) for s in task.model_labels)
    review = ReviewResult(task.name, task.detection_id, task.image_uri, task.purpose, answers, cfg.labels, scores,
                          maximum_answers=maximum)
    decision = context.engine().label(review, context.settings())
    if decision.accept:
        return Verdict("accepted", decision, answers)
    if decision.more:
        if maximum is not None and len(answers) < maximum:
            return Verdict(MORE, decision, answers, min(len(answers) + decision.more, maximum))
        return Verdict("unresolved", decision, answers)
    return Verdict("audited" if task.purpose == "audit" else "rejected", decision, answers)


def conclude(task: ReviewTask, verdict: Verdict, details: dict[str, Any] | None = None, *,
             closing: Closing | None = None, defer_copy: bool = False) -> dict[str, Any]:
    """Act on a verdict that closes the review: close it (for an accepted label, with the copy it
    licenses noted as pending), then make that copy. ``closing``: what else the backend's close writes
    (the review app's: ``handlers.review_backends.builtin.closing``). Raises what that close raises
    (TaskChanged, TaskLeased, AlreadyAnswered) and what the copy raises — unless ``defer_copy``: a copy
    that fails then stays pending for the sweep (a reviewer's answer is safe once the review is closed)."""
    details = verdict.details | (details or {})
    if verdict.status != "accepted":
        return close(task, verdict.status, details, closing=closing)
    copy = licensed_copy(task, verdict.decision.label, gate_set=verdict.decision.gate_set)
    result = close(task, "accepted", details | {"gate_set_key" if copy.gate_set else "training_key": copy.target},
                   closing=closing, copy=copy)
    if result.get("duplicate"):
        return result
    try:
        return result | complete_copy(copy)
    except Exception:
        if not defer_copy:
            raise  # the caller's retry finds the review accepted and makes the pending copy (resume)
        context.logger.exception("the accepted review's copy is pending", extra={"human_loop": task.name})
        return result | {"copy": "pending"}


def licensed_copy(task: ReviewTask, label: str, *, gate_set: bool = False) -> PendingCopy:
    """The copy accepting ``label`` licenses: the reviewed version into the label's folder of the
    training data (or the gate set), keyed by the detection."""
    source_key = task.image_uri[len(f"s3://{config.current().bucket}/"):]
    prefix = layout.TESTING_PREFIX if gate_set else layout.TRAINING_PREFIX
    return PendingCopy(task.name, task.detection_id, source_key, task.image_version,
                       layout.training_key(label, task.detection_id, source_key, prefix), label, gate_set)


def complete_copy(copy: PendingCopy) -> dict[str, Any]:
    """Make a pending copy: unless its image was deleted meanwhile (its review becomes ``deleted``),
    copy the reviewed version and mark the copy done. A copy that turns out to be withdrawn while it
    was being made (the image deleted or forgotten at that moment) is deleted again. Idempotent."""
    cfg, s3 = config.current(), aws.client("s3")
    if not aws.key_exists(cfg.bucket, copy.source_key):
        return withdraw(copy.review, f"{copy.source_key} was deleted by its uploader before its copy was made; "
                                     "it is not trained")
    source = {"Bucket": cfg.bucket, "Key": copy.source_key, **({"VersionId": copy.version} if copy.version else {})}
    try:
        made = s3.copy_object(Bucket=cfg.bucket, Key=copy.target, CopySource=source, MetadataDirective="REPLACE",
                              Metadata={"labelloop-detection": copy.detection_id, "labelloop-human-loop": copy.review})
    except ClientError as exc:
        if aws.error_code(exc) not in GONE:
            raise
        return withdraw(copy.review, f"the reviewed version of {copy.source_key} is gone; it is not trained")
    try:
        context.table().copy_done(copy)
    except CopyWithdrawn:
        review = context.table().review(copy.review)
        if review is not None and review.copy == "done":
            return {"copy": "done", "target": copy.target}  # another caller completed it a moment ago
        s3.delete_object(Bucket=cfg.bucket, Key=copy.target, **_version(made))
        return {"copy": "withdrawn", "reason": "its image was deleted while the copy was made"}
    context.metrics.add_metric(name="TrainingCopies" if not copy.gate_set else "GateSetCopies", unit="Count", value=1)
    return {"copy": "done", "target": copy.target}


def withdraw(review: str, reason: str) -> dict[str, Any]:
    """The image of a review was deleted: the review becomes ``deleted`` (counted, with ``reason``),
    if it is open or its copy is still pending; then the stack's review backend takes an open one back
    from its reviewers."""
    task = context.table().review(review)
    was = context.table().withdraw_review(task, reason) if task is not None else None
    if was is None:
        return {"copy": "withdrawn", "reason": reason, "duplicate": True}
    if was == "open":
        review_backend().withdrawn(task, reason)
    context.metrics.add_metric(name="Reviews_deleted", unit="Count", value=1)
    context.announce("review_completed", f"review deleted: {reason}", {"human_loop": review, "image": task.image_uri,
                                                                       "reason": reason})
    return {"copy": "withdrawn", "status": "deleted", "was": was, "reason": reason}


def resume(task: ReviewTask) -> dict[str, Any]:
    """A review met again once closed (a duplicate output, a retry): its pending copy is completed."""
    if task.status == "accepted" and task.copy == "pending":
        pending = context.table().pending_copy(task.name)
        if pending is not None:
            return {"human_loop": task.name, "status": task.status, "resumed": True} | complete_copy(pending)
    return {"human_loop": task.name, "status": task.status, "duplicate": True}


def close(task: ReviewTask, status: str, details: dict[str, Any], *, closing: Closing | None = None,
          copy: PendingCopy | None = None, notify: bool = False) -> dict[str, Any]:
    """Close the review once with ``status`` and count it; a review closed before is a duplicate."""
    try:
        context.table().record_review_finished(task.name, task.detection_id, status,
                                               details | {"finished_at": now_iso()}, closing=closing, copy=copy)
    except AlreadyAnswered:
        raise
    except AlreadyDone:
        return {"human_loop": task.name, "status": status, "duplicate": True}
    context.metrics.add_metric(name=f"Reviews_{status}", unit="Count", value=1)
    kind = "review_rejected" if status == "rejected" else "review_completed"
    context.announce(kind, f"review {status}: {details.get('reason', '')}",
                     {"human_loop": task.name, "image": task.image_uri,
                      **{k: v for k, v in details.items() if k in ("reason", "label", "policy")}},
                     notify=notify)
    return {"human_loop": task.name, "status": status, **details}


def _version(response: dict) -> dict[str, str]:
    return {"VersionId": response["VersionId"]} if response.get("VersionId") else {}
