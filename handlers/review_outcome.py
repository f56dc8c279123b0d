"""What happens once a review has its answers, the same for both review backends: an A2I output
(``handlers/review_output.py``) and the builtin review app's answers (``handlers/review_api.py``)
both become a :class:`plugins.ReviewResult` and go through here.

The label decision (the ``label_decision`` hook) accepts a label, refuses, or asks for more answers
— which the builtin review app gets from other reviewers up to the task's maximum; a review that
cannot have them is closed as unresolved. An accepted label's image is copied — the version that
was detected and reviewed, even if its key was overwritten since — into its label folder (or, when
the decision routes it there, the gate set's) under a key
the reviewers' text never reaches; then the review is closed once (with its training image counted
in the same transaction), counted per status, and announced: an operator is told what cannot be
used. An audit's answers never become training data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from plugins import LabelDecision, LabelScore, ReviewResult, WorkerAnswer

from .runtime import aws, config, context, layout
from .runtime.state import AlreadyAnswered, AlreadyDone, Closing, ReviewTask, TaskAnswer, now_iso

MORE = "more"  # not a status: the review stays open for more answers


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
             answer: TaskAnswer | None = None) -> dict[str, Any]:
    """Act on a verdict that closes the review: copy an accepted image version into its label folder,
    then close the review. ``answer``: the builtin review app's answer that closes its task.
    Raises what closing a builtin task raises (TaskChanged, TaskLeased, AlreadyAnswered)."""
    details = verdict.details | (details or {})
    closing = None
    if task.builtin:
        label = verdict.decision.label
        agreement = {a.worker_id: a.label == label for a in verdict.answers} if verdict.decision.accept else {}
        closing = Closing(task, answer, agreement)
    if verdict.status != "accepted":
        return close(task, verdict.status, details, closing=closing)
    gate_set = verdict.decision.gate_set
    target = copy_reviewed_image(task, verdict.decision.label, layout.TESTING_PREFIX if gate_set else
                                 layout.TRAINING_PREFIX)
    if target is None:
        return close(task, "rejected", details | {
            "reason": f"{task.image_uri} (the reviewed version) was deleted before the answer arrived; "
                      "nothing was copied"}, closing=closing, notify=True)
    if gate_set:  # a gate-set image is never training data: nothing to count
        return close(task, "accepted", details | {"gate_set_key": target}, closing=closing)
    return close(task, "accepted", details | {"training_key": target}, closing=closing,
                 training_image=(target, verdict.decision.label))


def copy_reviewed_image(task: ReviewTask, label: str, prefix: str = layout.TRAINING_PREFIX) -> str | None:
    """Copy the reviewed version into the label's folder under ``prefix`` (the training folders or the
    gate set); its key, or None when that version is gone."""
    cfg = config.current()
    source_key = task.image_uri[len(f"s3://{cfg.bucket}/"):]
    target = layout.training_key(label, task.detection_id, source_key, prefix)
    source = {"Bucket": cfg.bucket, "Key": source_key, **({"VersionId": task.image_version} if task.image_version else {})}
    try:
        aws.client("s3").copy_object(
            Bucket=cfg.bucket, Key=target, CopySource=source, MetadataDirective="REPLACE",
            Metadata={"labelloop-detection": task.detection_id, "labelloop-human-loop": task.name})
    except ClientError as exc:
        if aws.error_code(exc) not in ("NoSuchKey", "NoSuchVersion"):
            raise
        return None
    return target


def close(task: ReviewTask, status: str, details: dict[str, Any], *, closing: Closing | None = None,
          training_image: tuple[str, str] | None = None, notify: bool = False) -> dict[str, Any]:
    """Close the review once with ``status`` and count it; a review closed before is a duplicate."""
    try:
        context.table().record_review_finished(task.name, task.detection_id, status,
                                               details | {"finished_at": now_iso()}, closing=closing,
                                               training_image=training_image)
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
