"""The typed records the table speaks in, and how each is read from its item."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Iterable, Iterator, Mapping

from plugins import DatasetStats

from ..clock import today
from .items import (
    _DAY,
    _DAY_SHARD,
    _DETECTION,
    _FAILED,
    _LABEL_COUNT,
    _LOOP,
    _REVIEW,
    _REVIEWER,
    _TASK_ANSWER,
    _TASK_SKIP,
    ItemType,
    item_type,
    task_cursor,
)


@dataclass(frozen=True)
class LoopState:
    """The loop item: the active model pointer, counters of the day and the training lock."""

    active_version: str | None = None
    active_arn: str | None = None
    active_f1: float | None = None
    previous_version: str | None = None
    previous_arn: str | None = None
    switched_at: str | None = None
    versions: int = 0  # versions numbered so far (the next training is v<versions + 1>)
    reviews_today: int = 0
    open_reviews: int = 0
    training_version: str | None = None
    training_started_at: str | None = None
    training_owner: str | None = None
    strays: Mapping[str, str] = field(default_factory=dict)  # version -> ARN the lock's run could not stop
    last_training_decision: Mapping[str, Any] = field(default_factory=dict)
    trained_counts: Mapping[str, int] = field(default_factory=dict)  # training images per label at the last training
    serving_claim: str | None = None  # "start" or "stop": a serving action under way
    serving_claim_at: str | None = None
    last_serving_decision: Mapping[str, Any] = field(default_factory=dict)
    backlog_since: str | None = None  # images wait for the running model's capacity (detections park at once)
    drain_owner: str | None = None  # the serving look draining them (one at a time) ...
    drain_until: str | None = None  # ... until then
    drain_rate: float | None = None  # detections a second per inference unit the last drain measured


@dataclass(frozen=True)
class Dataset:
    """The training folder as the counters see it: images per label now and at the last finished training."""

    images: Mapping[str, int] = field(default_factory=dict)  # labels with a counter, never below 0
    trained: Mapping[str, int] = field(default_factory=dict)
    last_trained_at: str | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        """Every label with a counter or in the last training."""
        return tuple(sorted(set(self.images) | set(self.trained)))

    def new_since_training(self, label: str) -> int:
        return max(0, self.images.get(label, 0) - self.trained.get(label, 0))

    def stats(self, labels: tuple[str, ...]) -> DatasetStats:
        """What the training decision is told about the stack's labels."""
        return DatasetStats({label: self.images.get(label, 0) for label in labels},
                            {label: self.new_since_training(label) for label in labels}, labels,
                            self.last_trained_at)


@dataclass(frozen=True)
class DetectionRecord:
    """One detection of one image version (None: not recorded). ``labels`` are ``{"name", "confidence"}``,
    best first; ``decision`` is the review decision (``review``, ``purpose``, ``reason``, ``policy``)."""

    detection_id: str
    bucket: str | None = None
    key: str | None = None
    image_uri: str | None = None
    detected_at: str | None = None
    outcome: str | None = None
    reason: str | None = None
    etag: str | None = None
    version_id: str | None = None
    model_version: str | None = None
    labels: tuple[Mapping[str, Any], ...] = ()
    decision: Mapping[str, Any] | None = None
    human_loop: str | None = None
    review_status: str | None = None
    human_label: str | None = None
    failure: str | None = None
    failed_at: str | None = None


@dataclass(frozen=True)
class PendingDetection:
    """An image waiting for a model. ``cursor`` orders them by arrival and names this one
    (``pending_page(after=…)``, ``replace_pending(…, cursor)``)."""

    detection_id: str
    bucket: str
    key: str
    cursor: str
    etag: str | None = None
    version_id: str | None = None


@dataclass(frozen=True)
class DetectionFailure:
    """A detection that failed after its retries, listed until a later attempt detects it
    (``labelloop replay --failed``). ``pending_cursor``: the image was waiting for a model and
    failed as its replay; ``replayed_at``: a replay was started for this failure."""

    detection_id: str
    bucket: str | None = None
    key: str | None = None
    etag: str | None = None
    version_id: str | None = None
    reason: str | None = None
    failed_at: str | None = None
    pending_cursor: str | None = None
    failures: int = 1
    replayed_at: str | None = None


@dataclass(frozen=True)
class ReviewTask:
    """One review, from its start to its result (``result``: reason, policy, answers, label …): an A2I
    human loop, or a task of the builtin review app, which also has its serving priority, the answers
    it wants (``reviewers``, raised when a policy asks for more) and may ask for, the answers given
    and when it expires. ``model_labels``: the model's best labels, ``{"name", "confidence"}``."""

    name: str
    detection_id: str
    purpose: str
    image_uri: str
    started_at: str
    status: str = "open"
    image_version: str | None = None  # the S3 version reviewed, and copied when the answer is accepted
    model_version: str | None = None
    reason: str = ""
    result: Mapping[str, Any] | None = None
    model_labels: tuple[Mapping[str, Any], ...] = ()
    priority: float | None = None
    reviewers: int | None = None
    max_reviewers: int | None = None
    answers: int | None = None
    expires_at: str | None = None
    lease_reviewer: str | None = None
    lease_until: str | None = None
    copy: str | None = None  # an accepted review's image copy: "pending", "done", or "removed" (forgotten)
    removed_reason: str | None = None  # why its copy was removed

    @property
    def builtin(self) -> bool:
        """A task of the builtin review app (not an A2I human loop)."""
        return self.reviewers is not None

    @property
    def open_cursor(self) -> str:
        """Its place in the open index: highest priority first, then oldest."""
        return task_cursor(self.priority or 0.0, self.started_at, self.name)

    def leased_to_another(self, reviewer: str, at: str) -> bool:
        return _leased_to_another(self, reviewer, at)


@dataclass(frozen=True)
class OpenTask:
    """A builtin review task's entry in the open index: what the page shows, the lease and the
    reviewers who answered or skipped it (``seen``)."""

    name: str
    cursor: str
    detection_id: str
    purpose: str
    image_uri: str
    expires_at: str
    image_version: str | None = None
    reason: str = ""
    model_labels: tuple[Mapping[str, Any], ...] = ()
    lease_reviewer: str | None = None
    lease_until: str | None = None
    seen: frozenset[str] = frozenset()

    def leased_to_another(self, reviewer: str, at: str) -> bool:
        return _leased_to_another(self, reviewer, at)


def _leased_to_another(task: ReviewTask | OpenTask, reviewer: str, at: str) -> bool:
    return bool(task.lease_until and task.lease_until > at and task.lease_reviewer != reviewer)


@dataclass(frozen=True)
class OpenTaskPage:
    """Entries of the open index one Query found for a reviewer; ``last``: the cursor to read on
    from (None: the index ends here)."""

    entries: tuple[OpenTask, ...]
    last: str | None = None

    def __iter__(self) -> Iterator[OpenTask]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)


@dataclass(frozen=True)
class OpenTaskOverview:
    """The whole open index, read for the gauges: how many tasks wait within their lifetime, when
    the oldest of them was opened, and the entries past their lifetime (to expire). ``complete``: False when the read stopped at
    its page limit (the figures then cover the entries read)."""

    count: int
    oldest_opened_at: str | None
    expired: tuple[OpenTask, ...]
    complete: bool = True


@dataclass(frozen=True)
class TaskAnswer:
    """One reviewer's answer to a builtin review task."""

    task: str
    reviewer: str
    label: str
    answered_at: str
    reviewer_name: str | None = None  # kept with the reviewer's counts, for `labelloop status`


@dataclass(frozen=True)
class TaskWithAnswers:
    """A review with its answers and the reviewers who skipped it (one Query of its partition)."""

    task: ReviewTask
    answers: tuple[TaskAnswer, ...] = ()
    skipped_by: frozenset[str] = frozenset()

    def answered_by(self, reviewer: str) -> bool:
        return any(a.reviewer == reviewer for a in self.answers)


@dataclass(frozen=True)
class ReviewerStats:
    """One reviewer's counts: answers given, tasks skipped, answers that agreed or disagreed with the
    label a task was accepted with."""

    reviewer: str
    answers: int = 0
    skips: int = 0
    agreed: int = 0
    disagreed: int = 0
    name: str | None = None  # the e-mail address or user name the reviewer signed in with

    @property
    def agreement(self) -> float | None:
        """The share of this reviewer's answers to closed tasks that matched the final label."""
        decided = self.agreed + self.disagreed
        return self.agreed / decided if decided else None


@dataclass(frozen=True)
class Closing:
    """What closing a builtin review task writes besides its result: its open entry removed (refused
    while another reviewer holds the lease), the answer that closes it (None: it expired), and whether
    each answer agreed with the accepted label (reviewer -> agreed)."""

    task: ReviewTask
    answer: TaskAnswer | None = None
    agreement: Mapping[str, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class PendingCopy:
    """The copy an accepted review licenses: the reviewed version of ``source_key`` (``version``) into
    ``target`` (a label folder of the training data or of the gate set), labelled ``label``."""

    review: str
    detection_id: str
    source_key: str
    version: str | None
    target: str
    label: str
    gate_set: bool = False
    accepted_at: str = ""


@dataclass(frozen=True)
class ModelVersion:
    """A trained (or training) version: its run, status, evaluation, deployment decision, start and stop."""

    version: str
    arn: str | None = None
    status: str | None = None
    status_message: str | None = None
    run: str | None = None
    manifest: str | None = None
    counts: Mapping[str, int] | None = None
    training_started_at: str | None = None
    evaluation: Mapping[str, Any] | None = None  # f1, precision, recall, per_label, gate_set
    decision: Mapping[str, Any] | None = None  # deploy, reason, policy
    gate_set: str | None = None  # the gate-set version it was trained with as TestingData
    side_by_side: Mapping[str, Any] | None = None  # candidate and incumbent on the gate set, before the switch
    answers: Mapping[str, str] | None = None  # gate-set version -> S3 key of its answer for each image of it
    compared_by: str | None = None  # the lifecycle run that started it to compare a candidate with it
    inference_units: int | None = None
    start_requested_by: str | None = None
    start_requested_at: str | None = None
    started_by: str | None = None
    deployed_at: str | None = None
    stopped_at: str | None = None
    updated_at: str | None = None
    serving_since: str | None = None  # the open serving period (its sort key) while the version runs


@dataclass(frozen=True)
class DayStats:
    """The counters of one UTC day: ``outcome_<outcome>``, ``reviews_started_<purpose>``,
    ``reviews_<status>``, ``outputs_rejected``, ``replayed``; the time of its last detection."""

    day: str
    counts: Mapping[str, int] = field(default_factory=dict)
    last_detected_at: str | None = None

    @property
    def detections(self) -> int:
        return sum(n for name, n in self.counts.items() if name.startswith("outcome_"))


@dataclass(frozen=True)
class ServingPeriod:
    """A period a version ran and billed, from RUNNING until stopped (``until`` None: it still runs)."""

    version: str
    units: int
    start: str
    until: str | None = None
    max_units: int | None = None


@dataclass(frozen=True)
class TrainingPeriod:
    """A version's training, billed per hour (``until`` None: it still trains)."""

    version: str
    start: str
    until: str | None = None


@dataclass(frozen=True)
class Waiting:
    """The images waiting for a model: how many, and when the first of them arrived."""

    count: int = 0
    oldest_at: str | None = None


@dataclass(frozen=True)
class ParameterChange:
    """An operator parameter change the loop applied (``schedule``: what it did to the training schedule)."""

    at: str
    parameter: str
    operation: str
    value: str
    schedule: str | None = None


@dataclass(frozen=True)
class Snapshot:
    """Every item of a table at one moment (a sandbox round, a saved run), as records."""

    loop: LoopState
    dataset: Dataset
    detections: tuple[DetectionRecord, ...]
    reviews: tuple[ReviewTask, ...]
    days: tuple[DayStats, ...]  # oldest first
    reviewers: tuple[ReviewerStats, ...] = ()

    @classmethod
    def of(cls, items: Iterable[Mapping[str, Any]]) -> "Snapshot":
        """The records of plain items (a scan, or a saved run's ``items``)."""
        by_type: dict[ItemType | None, list[Mapping[str, Any]]] = {}
        for item in items:
            by_type.setdefault(item_type(item), []).append(item)
        state = next(iter(by_type.get(_LOOP, ())), {})
        return cls(_loop_state(state), _dataset(state, by_type.get(_LABEL_COUNT, ())),
                   tuple(_detection(i) for i in by_type.get(_DETECTION, ())),
                   tuple(_review(i) for i in by_type.get(_REVIEW, ())),
                   tuple(sorted(_days_of([*by_type.get(_DAY, ()), *by_type.get(_DAY_SHARD, ())]).values(),
                                key=lambda d: d.day)),
                   tuple(_reviewer_stats(i["sk"], i) for i in by_type.get(_REVIEWER, ())))

    @property
    def last_day(self) -> str | None:
        """The last UTC day anything was counted."""
        return self.days[-1].day if self.days else None


def _fields(record_type: type, item: Mapping[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(record_type)}
    return {name: value for name, value in item.items() if name in names}


def _attributes(record: Any) -> dict[str, Any]:
    """A record as stored: unset values (None, no labels) are left out."""
    return {f.name: value for f in fields(record) if (value := getattr(record, f.name)) is not None and value != ()}


def _loop_state(item: Mapping[str, Any] | None, day: str | None = None) -> LoopState:
    item = item or {}
    return LoopState(
        active_version=item.get("active_version"),
        active_arn=item.get("active_arn"),
        active_f1=item.get("active_f1"),
        previous_version=item.get("previous_version"),
        previous_arn=item.get("previous_arn"),
        switched_at=item.get("switched_at"),
        versions=int(item.get("versions", 0)),
        reviews_today=int(item.get(f"reviews_{day or today()}", 0)),
        open_reviews=int(item.get("open_reviews", 0)),
        training_version=item.get("training_version"),
        training_started_at=item.get("training_started_at"),
        training_owner=item.get("training_owner"),
        strays=dict(item.get("strays") or {}),
        last_training_decision=item.get("last_training_decision") or {},
        trained_counts={label: int(n) for label, n in (item.get("trained_counts") or {}).items()},
        serving_claim=item.get("serving_claim"),
        serving_claim_at=item.get("serving_claim_at"),
        last_serving_decision=item.get("last_serving_decision") or {},
        backlog_since=item.get("backlog_since"),
        drain_owner=item.get("drain_owner"),
        drain_until=item.get("drain_until"),
        drain_rate=float(item["drain_rate"]) if item.get("drain_rate") is not None else None,
    )


def _dataset(state: Mapping[str, Any] | None, counts: Iterable[Mapping[str, Any]]) -> Dataset:
    state = state or {}
    return Dataset({_LABEL_COUNT.part(i): max(0, int(i.get("count", 0))) for i in counts},
                   {label: int(n) for label, n in (state.get("trained_counts") or {}).items()},
                   state.get("trained_at"))


def _detection(item: Mapping[str, Any]) -> DetectionRecord:
    values = _fields(DetectionRecord, item) | {"detection_id": item.get("detection_id") or _DETECTION.part(item),
                                               "labels": tuple(item.get("labels") or ())}
    if values.get("human_label") == "-":  # a review closed without a label
        values["human_label"] = None
    return DetectionRecord(**values)


def _pending(item: Mapping[str, Any]) -> PendingDetection:
    return PendingDetection(**_fields(PendingDetection, item), cursor=item["sk"])


def _failure(item: Mapping[str, Any]) -> DetectionFailure:
    return DetectionFailure(**_fields(DetectionFailure, item) | {"detection_id": _FAILED.part(item)})


def _review(item: Mapping[str, Any]) -> ReviewTask:
    unread = dict.fromkeys(("detection_id", "purpose", "image_uri", "started_at"))  # None where an outline has none
    return ReviewTask(**unread | _fields(ReviewTask, item) | {"name": item.get("name") or _REVIEW.part(item),
                                                             "model_labels": tuple(item.get("model_labels") or ())})


def _open_task(item: Mapping[str, Any]) -> OpenTask:
    return OpenTask(**_fields(OpenTask, item) | {"cursor": item["sk"], "seen": frozenset(item.get("seen") or ()),
                                                 "model_labels": tuple(item.get("model_labels") or ())})


def _task_with_answers(items: list[Mapping[str, Any]]) -> TaskWithAnswers | None:
    task = next((i for i in items if _REVIEW.matches(i)), None)
    if task is None:
        return None
    answers = tuple(TaskAnswer(_REVIEW.part(i), i["reviewer"], i["label"], i["answered_at"])
                    for i in items if _TASK_ANSWER.matches(i))
    return TaskWithAnswers(_review(task), tuple(sorted(answers, key=lambda a: a.answered_at)),
                           frozenset(i["reviewer"] for i in items if _TASK_SKIP.matches(i)))


def _pending_copy(item: Mapping[str, Any]) -> PendingCopy:
    return PendingCopy(**{"version": None} | _fields(PendingCopy, item))  # an unversioned upload has none


def _reviewer_stats(reviewer: str, item: Mapping[str, Any] | None) -> ReviewerStats:
    fields = _fields(ReviewerStats, item or {})
    return ReviewerStats(reviewer, name=fields.get("name"),
                         **{k: int(v) for k, v in fields.items() if k not in ("reviewer", "name")})


def _model(item: Mapping[str, Any]) -> ModelVersion:
    return ModelVersion(**_fields(ModelVersion, item))


def _serving_period(item: Mapping[str, Any]) -> ServingPeriod:
    return ServingPeriod(**_fields(ServingPeriod, item))


def _days_of(items: Iterable[Mapping[str, Any]]) -> dict[str, DayStats]:
    """Each day's counters: its review counts and the sum of its shares of the detection counts."""
    counts: dict[str, dict[str, int]] = {}
    last: dict[str, str] = {}
    for item in items:
        day = (_DAY if _DAY.matches(item) else _DAY_SHARD).part(item)
        mine = counts.setdefault(day, {})
        for name, value in item.items():
            if name == "last_detected_at":
                last[day] = max(last.get(day, ""), value)
            elif name not in ("pk", "sk"):
                mine[name] = mine.get(name, 0) + int(value)
    return {day: DayStats(day, c, last.get(day)) for day, c in counts.items()}


def _parameter_change(item: Mapping[str, Any]) -> ParameterChange:
    return ParameterChange(at=item["sk"], **_fields(ParameterChange, item))
