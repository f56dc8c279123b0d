"""The steps of ``labelloop smoke``: a few images of its own through the deployed loop — uploaded,
detected, reviewed in the review app by a temporary reviewer, copied into the training data and
counted — and everything it made removed again.

Each step says what it waits for; a step that fails raises :class:`StepFailed` with what it saw and
where to look (a log group, a state machine's executions). The cleanup runs whatever happened.
What stays is said: the detection and review records and the day's counts (the loop's history).
"""

from __future__ import annotations

import contextlib
import struct
import time
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable

from botocore.exceptions import ClientError

from handlers.runtime import layout
from handlers.runtime.ids import detection_id, human_loop_name
from plugins import NONE_OF_THE_ABOVE

from .target import FunctionFailed

SMOKE_PREFIX = f"{layout.DETECTION_PREFIX}labelloop-smoke/"
IMAGES = 2
SIDE = 64  # Rekognition reads images of at least 64 px a side
FINAL = ("accepted", "rejected", "audited", "unresolved", "expired")
POLL_SECONDS = 2.0  # between two looks at what a step waits for


class StepFailed(Exception):
    def __init__(self, step: str, saw: str, look: str):
        super().__init__(f"{step}: {saw}")
        self.step, self.saw, self.look = step, saw, look


def png(seed: int, note: str) -> bytes:
    """A small grey PNG drawn from ``seed`` (stripes of its own width), ``note`` in a text chunk so that
    every run's images are new content."""
    rows = b"".join(b"\0" + bytes((((x // (2 + seed)) + y // 8) % 2) * 200 + 30 for x in range(SIDE))
                    for y in range(SIDE))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", SIDE, SIDE, 8, 0, 0, 0, 0))
            + chunk(b"tEXt", b"Comment\0" + note.encode()) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


@dataclass
class Smoke:
    target: Any  # cli.target.Target
    say: Callable[[str], None]
    timeout: float = 300.0
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    steps: list[dict] = field(default_factory=list)
    made: dict[str, list] = field(default_factory=lambda: {"objects": [], "reviews": [], "reviewers": []})
    removed: list[str] = field(default_factory=list)
    counted: tuple[str, int] | None = None  # the label the smoke's copy was counted under, and its count before
    pending: bool = False  # a detection waits for a model
    failed: bool = False  # a detection failed (and is listed to replay)
    current: str = "stack"  # the step under way
    config: Any = None  # the deployed stack (handlers.runtime.config.RuntimeConfig), once checked

    @property
    def reviewer_name(self) -> str:
        return f"labelloop-smoke-{self.run_id}"

    def begin(self, name: str) -> float:
        self.current = name
        return time.monotonic()

    def step(self, name: str, detail: str, started: float) -> None:
        self.steps.append({"step": name, "status": "ok", "detail": detail, "seconds": round(time.monotonic() - started, 1)})
        self.say(f"ok    {name:<14} {detail}")

    def wait(self, step: str, what: str, probe: Callable[[], Any], look: str) -> Any:
        """``probe()`` until it answers something, within the timeout."""
        self.say(f"      {step:<14} waiting for {what} …")
        deadline = time.monotonic() + self.timeout
        while True:
            self.target.settle()
            found = probe()
            if found:
                return found
            if time.monotonic() > deadline:
                raise StepFailed(step, f"no {what} after {self.timeout:.0f} s", look)
            time.sleep(POLL_SECONDS)

    # -- the steps ---------------------------------------------------------------------------------
    def check_deployed(self) -> None:
        self.config = self.target.deployed()
        if self.config is None:
            raise StepFailed("stack", f"{self.target.description} is not deployed (its functions are missing)",
                             "run `pulumi up`, then `labelloop doctor`")

    def run(self) -> dict:
        config, naming, table = self.config, self.target.naming, self.target.table()
        started = self.begin("reviewer")
        with self.target.temporary_reviewer(self.reviewer_name) as reviewer:
            self.step("reviewer", f"temporary reviewer {self.reviewer_name} signed in (removed at the end)", started)
            status, settings = self.target.review_api(None, "GET", "/config")
            if status != 200 or not (settings or {}).get("labels"):
                raise StepFailed("review app", f"GET /config answered {status}: {settings}",
                                 f"log group /aws/lambda/{naming.function('review_api')}")
            label = settings["labels"][0]
            try:
                uploads = self.upload(config.bucket)
                detections = self.detect(config.bucket, uploads, table)
                task = self.open_review(config.bucket, detections[0], table)
                before = table.loop_and_dataset()[1].images.get(label, 0)
                self.answer(reviewer, task, label)
                self.training_copy(task, label, before, table)
            finally:
                self.close_reviews(reviewer, table)
        return {"label": label}

    def upload(self, bucket: str) -> list[tuple[str, str | None]]:
        started, s3, uploads = self.begin("upload"), self.target.client("s3"), []
        for i in range(IMAGES):
            key = f"{SMOKE_PREFIX}{self.run_id}/image-{i}.png"
            answer = s3.put_object(Bucket=bucket, Key=key, Body=png(i, f"labelloop smoke {self.run_id} {i}"),
                                   ContentType="image/png")
            self.made["objects"].append(key)
            uploads.append((key, answer.get("VersionId") or answer["ETag"].strip('"')))
        self.step("upload", f"{IMAGES} images to s3://{bucket}/{SMOKE_PREFIX}{self.run_id}/", started)
        return uploads

    def detect(self, bucket: str, uploads: list[tuple[str, str | None]], table) -> list:
        started, naming = self.begin("detection"), self.target.naming
        look = (f"the executions of state machine {naming.state_machine('detection')} and the log group "
                f"/aws/lambda/{naming.function('detect')}")
        records = []
        for key, content in uploads:
            ident = detection_id(bucket, key, content)
            record = self.wait("detection", f"the detection of {key}", lambda: table.detection(ident), look)
            if record.outcome in ("failed", "unreadable", "skipped"):
                self.failed = self.failed or record.outcome == "failed"
                raise StepFailed("detection", f"{key} was detected as {record.outcome}: {record.reason}", look)
            records.append(record)
            self.made["reviews"].append(human_loop_name(ident))  # a review the policy opens for it is closed at the end
        self.pending = any(r.outcome == "pending" for r in records)
        outcomes = ", ".join(f"{r.outcome} ({r.reason})" if r.outcome == "pending" else r.outcome for r in records)
        self.step("detection", f"{len(records)} detections recorded: {outcomes}", started)
        return records

    def open_review(self, bucket: str, record, table):
        """The review the policy opened for the image, or one the smoke opens through the stack's
        StartReview function (priority 0: served after every real task)."""
        started, naming = self.begin("review"), self.target.naming
        name = human_loop_name(record.detection_id)
        look = f"the log group /aws/lambda/{naming.function('start_review')}"
        opened_by = "the review decision"
        if table.review(name) is None:
            payload = {"detection_id": record.detection_id, "bucket": bucket, "key": record.key,
                       "version_id": record.version_id, "purpose": "training", "labels": list(record.labels),
                       "model_version": record.model_version, "priority": 0, "reviewers": 1,
                       "reason": f"labelloop smoke {self.run_id}: the review app, end to end"}
            try:
                self.target.invoke_function("start_review", payload)
            except FunctionFailed as exc:
                raise StepFailed("review", str(exc), look) from None
            opened_by = "the smoke"
        task = self.wait("review", f"review task {name}", lambda: table.review(name), look)
        if task.reviewers is None:
            raise StepFailed("review", f"{name} is an A2I human loop; the smoke answers in the review app only",
                             "review it in A2I, or run the smoke on a stack with review: builtin")
        self.step("review", f"task {name} open (opened by {opened_by}; {task.reviewers} answer(s) wanted)", started)
        return task

    def answer(self, reviewer, task, label: str) -> None:
        """The task as the page shows it, then the answers it wants: the first from the smoke's reviewer,
        each further one from another temporary reviewer."""
        started, naming = self.begin("answer"), self.target.naming
        look = f"the log group /aws/lambda/{naming.function('review_api')} and the API's access log group " \
               f"{naming.api_access_log_group('review')}"
        status, shown = self.target.review_api(reviewer, "GET", f"/api/tasks/{task.name}")
        if status != 200:
            raise StepFailed("answer", f"GET /api/tasks/{task.name} answered {status}: {shown}", look)
        status, answered = self.answer_all(reviewer, task, label)
        if status != 200:
            raise StepFailed("answer", f"POST /api/tasks/{task.name}/answer answered {status}: {answered}", look)
        self.step("answer", f"answered {label!r} through the review API ({task.reviewers} reviewer(s))", started)

    def answer_all(self, reviewer, task, label: str) -> tuple[int, Any]:
        """As many answers as the task wants: the smoke's reviewer's first, then another temporary
        reviewer's each; the last answer's status and body."""
        status, answered = 200, None
        for n in range(task.reviewers - (task.answers or 0)):
            name = f"{self.reviewer_name}-{n + 1}"
            with contextlib.nullcontext(reviewer) if n == 0 else self.target.temporary_reviewer(name) as who:
                if n:
                    self.made["reviewers"].append(name)
                status, answered = self.target.review_api(who, "POST", f"/api/tasks/{task.name}/answer",
                                                         {"label": label})
            if status != 200:
                break
        return status, answered

    def close_reviews(self, reviewer, table) -> None:
        """Every review of the smoke's images still open is answered None of the Above: closed, nothing
        copied (its image is about to be removed)."""
        for name in self.made["reviews"]:
            task = table.review(name)
            if task is None or task.status != "open" or task.reviewers is None:
                continue
            status, answered = self.answer_all(reviewer, task, NONE_OF_THE_ABOVE)
            self.target.settle()
            closed = table.review(name)
            if status == 200 and closed is not None and closed.status != "open":
                self.removed.append(f"closed review task {name} (answered {NONE_OF_THE_ABOVE}: {closed.status})")
            else:
                self.removed.append(f"NOT closed: review task {name} is still open ({status}: {answered}); it expires "
                                    f"at {task.expires_at}")

    def training_copy(self, task, label: str, before: int, table) -> None:
        started, naming = self.begin("training copy"), self.target.naming
        look = f"the log group /aws/lambda/{naming.function('review_api')}"
        closed = self.wait("training copy", f"the close of {task.name}",
                           lambda: (lambda r: r if r and r.status in FINAL else None)(table.review(task.name)), look)
        result = dict(closed.result or {})
        copy = result.get("training_key") or result.get("gate_set_key")
        if closed.status != "accepted" or not copy:
            raise StepFailed("training copy", f"the review closed {closed.status}: {result.get('reason')}",
                             "the label policy's decision (labelloop status; docs/review.md)")
        self.made["objects"].append(copy)
        if not self._exists(copy):
            raise StepFailed("training copy", f"{copy} is not in the bucket", look)
        if "gate_set_key" in result:
            counted = "a gate-set image (not counted as training data)"
        else:
            self.counted = (label, before)
            count = self.wait("training copy", f"the {label!r} count to go from {before} to {before + 1}",
                              lambda: (lambda n: n if n == before + 1 else None)(self._count(table, label)),
                              f"the log group /aws/lambda/{naming.function('training_data')}")
            counted = f"counted: {count} {label!r} image(s) now"
        self.step("training copy", f"{copy}, {counted}", started)

    # -- cleanup -------------------------------------------------------------------------------------
    def clean_up(self) -> list[str]:
        """Remove what the smoke made (each object's every version), close a review it left open; says
        what stays."""
        if self.config is None:
            return []
        table, bucket = self.target.table(), self.config.bucket
        for key in sorted(set(self.made["objects"]), key=lambda k: not k.startswith(layout.TRAINING_PREFIX)):
            removed = self._delete_versions(bucket, key)
            if removed:
                self.removed.append(f"deleted s3://{bucket}/{key} ({removed} version(s))")
        self.target.settle()
        if self.counted:
            label, before = self.counted
            try:
                self.wait("cleanup", f"the {label!r} count back at {before}",
                          lambda: self._count(table, label) == before or None,
                          f"the log group /aws/lambda/{self.target.naming.function('training_data')}")
                self.removed.append(f"the {label!r} count back at {before}")
            except StepFailed as exc:
                self.removed.append(f"NOT the count: {exc.saw} (look: {exc.look})")
        self.removed += [f"deleted temporary reviewer {name}" for name in [self.reviewer_name] + self.made["reviewers"]]
        kept = ["the detection and review records of its images, and the day's counts (the loop's history)",
                f"the review app's statistics of {self.reviewer_name}"]
        if self.failed:
            kept.append("its failed detections in the list `labelloop replay --failed` replays (their images are "
                        "gone: fix the cause, then check with another smoke)")
        if self.pending:
            kept.append("its detections waiting for a model: once one runs they are detected again and recorded "
                        "unreadable (their images are gone)")
        return kept

    @staticmethod
    def _count(table, label: str) -> int:
        return table.loop_and_dataset()[1].images.get(label, 0)

    def _exists(self, key: str) -> bool:
        try:
            self.target.client("s3").head_object(Bucket=self.config.bucket, Key=key)
            return True
        except ClientError:
            return False

    def _delete_versions(self, bucket: str, key: str) -> int:
        s3, removed = self.target.client("s3"), 0
        pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key)
        for page in pages:
            for version in page.get("Versions", []) + page.get("DeleteMarkers", []):
                if version["Key"] == key:
                    s3.delete_object(Bucket=bucket, Key=key, VersionId=version["VersionId"])
                    removed += 1
        return removed
