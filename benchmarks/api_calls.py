"""AWS API calls per path of the loop, counted in a LocalStack (moto), next to the original AWS
sample's counted from its source, and the cost of building a training manifest.

Run from the repository root:

    python benchmarks/api_calls.py                    # everything (about a minute)
    python benchmarks/api_calls.py --manifest-images 0  # API calls only (seconds)

Two kinds of request are counted apart. **SDK calls**: every call a function's code makes (a
botocore ``before-call`` handler sees it; a call counts when handler code — a module of the
``handlers`` package — is on the calling stack, so the harness's own calls are not counted).
**Orchestration requests**: the state machine executions started and the Lambda functions invoked
for the path (EventBridge starting the detection workflow, the workflow invoking its tasks). Each
path is measured **warm** (a container that read the parameters within their cache time and made
its clients) and **cold** (every invocation in a new container: what a low-traffic stack pays on
most images, since the parameter cache lasts a minute), and the review path with either backend,
the builtin review app and A2I.

The original's figures are counted the same way from its source: the AWS sample
aws-samples/amazon-rekognition-custom-labels-a2i-automated-continuous-model-improvement at commit
7333f60 (2021-06-18, the README this project started from), with the file and line of each call
(:data:`ORIGINAL`). It caches nothing: cold and warm are the same.

The manifest build lists 100 000 objects stored in moto's S3 backend. moto serialises every listed
page to XML and botocore parses it back, which costs about 0.4 s per 1 000 keys and would measure
moto rather than the handler; the benchmark answers ``ListObjectsV2`` straight from moto's object
store instead (same keys, same page size, same response shape), so the time and memory shown are
the handler's.
"""

from __future__ import annotations

import argparse
import bisect
import json
import sys
import threading
import time
import tracemalloc
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from components.naming import Naming
from handlers.lifecycle import check, manifest
from handlers.runtime import aws as runtime_aws
from handlers.runtime import context, layout
from sandbox.a2i import A2I
from sandbox.local_aws import ACCOUNT, REGION, LocalStack
from sandbox.scripted_trainer import scripted_custom_labels

LABELS = ("cat", "dog")
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 24
CONFIDENT = (("cat", 95.0), ("dog", 5.0))
UNSURE = (("cat", 50.0), ("dog", 40.0))
CHECK_SIZES = (1_000, 100_000, 1_000_000)
MODEL_ARN = f"arn:aws:rekognition:{REGION}:{ACCOUNT}:project/{Naming('sandbox').project}/version/v1/1"

SAMPLE = "aws-samples/amazon-rekognition-custom-labels-a2i-automated-continuous-model-improvement@7333f60"
TRIGGER = [("SSM.GetParameter", "lambda/s3-event-trigger.py:8 (called at :12)"),
           ("SFN.StartExecution", "lambda/s3-event-trigger.py:22")]
DETECT = [("SSM.GetParametersByPath", "lambda/rekognition-detect-label.py:9 (called at :25; 8 parameters, one page)"),
          ("Rekognition.DetectCustomLabels", "lambda/rekognition-detect-label.py:27"),
          ("SNS.Publish", "lambda/rekognition-detect-label.py:13 (called at :39)")]
HUMAN_LOOP = [("SSM.GetParameter", "lambda/a2i_create_humanloop.py:9 (called at :20)"),
              ("SageMakerA2IRuntime.StartHumanLoop", "lambda/a2i_create_humanloop.py:21"),
              ("SNS.Publish", "lambda/a2i_create_humanloop.py:13 (called at :32)")]
OUTPUT = [("SSM.GetParameter", "lambda/a2i-human-loop.py:8 (called at :12)"),
          ("S3.GetObject", "lambda/a2i-human-loop.py:15"),
          ("S3.HeadObject + S3.CopyObject", "lambda/a2i-human-loop.py:25 (s3transfer's managed copy: 2 calls)")]


@dataclass(frozen=True)
class Original:
    """The sample's requests for a path: SDK calls with their source, executions started, functions invoked
    (an S3 notification invokes lambda/s3-event-trigger.py, which starts the state machine, whose Task
    states invoke the others: stepfunctions/state-machine.json)."""

    sdk: tuple[tuple[str, str], ...]
    executions: int
    invocations: int

    @property
    def sdk_calls(self) -> int:
        return sum(2 if "+" in name else 1 for name, _ in self.sdk)


ORIGINAL = {
    "confident": Original(tuple(TRIGGER + DETECT), 1, 2),
    "review": Original(tuple(TRIGGER + DETECT + HUMAN_LOOP), 1, 3),
    "output": Original(tuple(TRIGGER + OUTPUT), 1, 2),
}


# -- counting --------------------------------------------------------------------------------

def _handler_module() -> str | None:
    """The outermost module of the handlers package on the calling stack (the entry point), if any."""
    frame, entry = sys._getframe(2), None
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if name.startswith("handlers."):
            entry = name if not name.startswith("handlers.runtime") or entry is None else entry
        frame = frame.f_back
    return entry


class Meter:
    """Records (entry module, service, operation) for every API call made while measuring."""

    def __init__(self):
        self.calls: list[tuple[str, str, str]] = []
        self._active, self._any_code = False, False
        self._lock = threading.Lock()

    def __call__(self, model, **_):
        """A before-call handler; it returns None, so the call goes on to moto or a stand-in."""
        if not self._active:
            return
        entry = _handler_module()
        if entry is None and not self._any_code:
            return  # the harness's own call
        with self._lock:
            self.calls.append((entry or "(handler thread)", model.service_model.service_id, model.name))

    @contextmanager
    def measure(self, *, any_code: bool = False):
        """Count inside the block; ``any_code``: also calls from threads the handler started (s3transfer)."""
        calls: list[tuple[str, str, str]] = []
        with self._lock:
            self.calls, self._active, self._any_code = calls, True, any_code
        try:
            yield calls
        finally:
            with self._lock:
                self._active = False


def breakdown(calls) -> str:
    counts = Counter(f"{service}.{operation}" for _, service, operation in calls)
    return ", ".join(f"{op}×{n}" if n > 1 else op for op, n in counts.items())


def by_entry(calls, module: str) -> list:
    return [c for c in calls if c[0] == module]


@dataclass
class Requests:
    """What one path cost: the SDK calls, the executions started and the functions invoked."""

    calls: list = field(default_factory=list)
    executions: int = 0
    invocations: list[str] = field(default_factory=list)

    @property
    def orchestration(self) -> int:
        return self.executions + len(self.invocations)


def executions_started(st) -> int:
    sfn = st.client("stepfunctions")
    return sum(len(sfn.list_executions(stateMachineArn=arn)["executions"]) for arn in st.state_machines.values())


@contextmanager
def requests(st):
    """The SDK calls (``st.meter``), executions and invocations of what happens in the block."""
    found = Requests()
    before, invoked = executions_started(st), len(st.invocations)
    with st.meter.measure() as calls:
        yield found
    found.calls = list(calls)
    found.executions = executions_started(st) - before
    found.invocations = [i.key for i in st.invocations[invoked:]]


class ColdMeter(Meter):
    """Counts every call of the functions' own clients (each invocation a cold container: the
    clients are new, so no call stack is needed to tell them from the harness's)."""

    def hook(self, function: str, client) -> None:
        client.meta.events.register("before-call.*.*", lambda model, **_: self._record(function, model))

    def _record(self, function: str, model) -> None:
        if self._active:
            with self._lock:
                self.calls.append((f"handlers.{function}", model.service_model.service_id, model.name))


# -- the stack -------------------------------------------------------------------------------

@contextmanager
def stack(*, review: str = "a2i", cold: bool = False):
    """A stack with a running model; ``review``: ``a2i`` or ``builtin``; ``cold``: every invocation in a
    container of its own."""
    models, a2i = scripted_custom_labels(labels=LABELS, default_labels=CONFIDENT), A2I()
    models.add_running(MODEL_ARN)  # the model the detections use
    with LocalStack(labels=LABELS, standins={"rekognition": models, "sagemaker-a2i-runtime": a2i},
                    containers="per_invocation" if cold else "shared", review=review) as st:
        meter = ColdMeter() if cold else Meter()
        if cold:
            st.on_function_client(meter.hook)
        else:
            st.watch_calls(meter)
        st.models, st.a2i, st.meter = models, a2i, meter
        context.table().switch_active("v1", MODEL_ARN, None, None)
        yield st


def upload(st, key: str, scores=CONFIDENT) -> None:
    st.models.trainer.by_key[key] = scores
    st.client("s3").put_object(Bucket=st.bucket, Key=key, Body=PNG + key.encode())
    st.pump()


def write_output(st, loop_name: str, label: str) -> None:
    flow = st.flow_definition_arn.rsplit("/", 1)[1]
    key = f"{layout.REVIEW_OUTPUT_PREFIX}{flow}/2026/01/01/00/00/00/{loop_name}/output.json"
    st.client("s3").put_object(Bucket=st.bucket, Key=key, Body=json.dumps({
        "flowDefinitionArn": st.flow_definition_arn, "humanLoopName": loop_name,
        "inputContent": st.a2i.loops[loop_name].input,
        "humanAnswers": [{"answerContent": {"crowd-image-classifier": {"label": label}}, "workerId": "w1",
                          "submissionTime": "2026-01-01T00:00:00Z", "timeSpentInSeconds": 3}]}).encode())
    st.pump()


def row(path: str, found: Requests, mode: str, *, target: int | None = None, original: str | None = None,
        detail: str | None = None) -> dict:
    return {"path": path, "mode": mode, "requests": found, "calls": found.calls, "target": target,
            "original": original, "detail": detail}


# -- the paths -------------------------------------------------------------------------------

def detection_paths(st, mode: str, backend: str) -> list[dict]:
    """A confident detection and a reviewed one (each after a first of its kind when warm)."""
    rows = []
    if mode == "warm":  # parameters read and cached, clients created, engine loaded
        upload(st, "images_for_detection/warm/confident.png")
        upload(st, "images_for_detection/warm/unsure.png", UNSURE)
    with requests(st) as found:
        upload(st, f"images_for_detection/bench-{mode}/confident.png")
    if backend == "a2i":
        rows.append(row("confident detection", found, mode, target=3 if mode == "warm" else 4, original="confident"))
    with requests(st) as found:
        upload(st, f"images_for_detection/bench-{mode}/unsure.png", UNSURE)
    detail = (f"detect {len(by_entry(found.calls, 'handlers.detect'))}, "
              f"start_review {len(by_entry(found.calls, 'handlers.start_review'))}")
    target = {("warm", "a2i"): 5, ("warm", "builtin"): 4}.get((mode, backend))
    rows.append(row(f"reviewed detection ({backend})", found, mode, target=target,
                    original="review" if backend == "a2i" else None, detail=detail))
    return rows


def measure_paths(st) -> list[dict]:
    """The warm paths of an A2I stack: detections, messages, the review's output, the counters, the checks."""
    rows = detection_paths(st, "warm", "a2i")
    warm_loop, loop_name = list(st.a2i.loops)[0], list(st.a2i.loops)[-1]
    with requests(st) as found:
        for i in range(20):
            upload(st, f"images_for_detection/bench/batch-{i}.png", UNSURE if i % 4 == 0 else CONFIDENT)
    published = sum(1 for _, service, op in found.calls if op == "Publish")
    rows.append({"path": "SNS messages per detected image", "mode": "warm", "value": published / 20, "target": 0,
                 "original": "1 e-mail", "detail": f"{published} Publish in 20 detections (5 reviews)"})
    write_output(st, warm_loop, "cat")  # the output function's parameters read and cached, its clients made
    with requests(st) as found:
        write_output(st, loop_name, "dog")
    review = Requests([c for c in found.calls if c[0] == "handlers.review_output"], found.executions,
                      [k for k in found.invocations if k == "review_output"])
    echo = Requests([c for c in found.calls if c[0] == "handlers.training_data"], 0,
                    [k for k in found.invocations if k == "training_data"])
    rows.append(row("A2I output (accepted, image copied)", review, "warm", original="output"))
    rows.append(row("  + counter event of the copy (no-op)", echo, "warm"))
    with requests(st) as found:
        st.client("s3").put_object(Bucket=st.bucket, Key="images_labeled_by_folder/cat/bench.png", Body=PNG)
        st.pump()
    rows.append(row("training-data counter update", found, "warm"))

    table = context.table()
    context.settings()  # the check reads the parameters; cached like every path above
    for size in CHECK_SIZES:
        per_label = size // len(LABELS)
        table.set_counts({label: per_label for label in LABELS})
        table.mark_seen({label: per_label - 10 for label in LABELS})
        owner = f"benchmark-{size}"
        with st.meter.measure() as calls:
            result = check.check(owner, "manual")
        assert result["train"] and result["images"] == size, result
        table.release_training_lock(owner)
        table.mark_seen({label: per_label for label in LABELS})
        with st.meter.measure() as idle:
            result = check.check(owner, "manual")
        assert not result["train"], result
        rows.append(row(f"training check, {size:>9,} images", Requests(list(calls)), "warm", target=4,
                        detail=f"{breakdown(calls)}; without training {len(idle)}; the original lists the bucket: "
                               f"~{max(1, size // 1000):,} list call{'s' if size > 1000 else ''}"))
    return rows


# -- the manifest ----------------------------------------------------------------------------

def seed_training_objects(st, n: int) -> None:
    """Store ``n`` training images straight in moto's S3 backend (no events: the counters are reconciled
    by the build, which is part of what it does)."""
    from moto.s3.models import s3_backends

    backend = s3_backends[ACCOUNT]["aws"]
    for i in range(n):
        backend.put_object(st.bucket, f"{layout.TRAINING_PREFIX}{LABELS[i % len(LABELS)]}/img-{i:07d}.png", b"",
                           disable_notification=True)


def answer_listing_from_moto_store(st) -> None:
    """ListObjectsV2 (no delimiter) answered from moto's object store with a sorted index: the
    same keys and pages as moto, without its XML round trip."""
    from moto.s3.models import s3_backends

    bucket = s3_backends[ACCOUNT]["aws"].get_bucket(st.bucket)
    index: dict[str, object] = {}

    def names() -> list[str]:
        if index.get("size") != len(bucket.keys):
            index.update(size=len(bucket.keys), names=sorted(bucket.keys.keys()))
        return index["names"]

    def keep_params(params, context, **_):
        context["benchmark_list_params"] = dict(params)

    def answer(model, context, **_):
        params = context.get("benchmark_list_params")
        if model.name != "ListObjectsV2" or params is None or params.get("Delimiter"):
            return None
        prefix, limit = params.get("Prefix", ""), min(int(params.get("MaxKeys", 1000)), 1000)
        after = params.get("ContinuationToken") or params.get("StartAfter")
        keys = names()
        i = bisect.bisect_right(keys, after) if after else bisect.bisect_left(keys, prefix)
        page = []
        while i < len(keys) and keys[i].startswith(prefix) and len(page) < limit:
            obj = bucket.keys[keys[i]]
            page.append({"Key": obj.name, "LastModified": obj.last_modified, "ETag": obj.etag, "Size": obj.size,
                         "StorageClass": "STANDARD"})
            i += 1
        more = i < len(keys) and keys[i].startswith(prefix)
        parsed = {"IsTruncated": more, "Contents": page, "Name": st.bucket, "Prefix": prefix, "MaxKeys": limit,
                  "KeyCount": len(page), **({"NextContinuationToken": page[-1]["Key"]} if more else {}),
                  "ResponseMetadata": {"HTTPStatusCode": 200, "HTTPHeaders": {}, "RetryAttempts": 0}}
        return SimpleNamespace(status_code=200, headers={}, content=b"", raw=None), parsed

    events = runtime_aws.client("s3").meta.events
    events.register("before-parameter-build.s3.ListObjectsV2", keep_params)
    events.register("before-call.s3", answer)


def measure_manifest(st, images: int) -> dict:
    started = time.perf_counter()
    seed_training_objects(st, images)
    seeded = time.perf_counter() - started
    answer_listing_from_moto_store(st)

    with st.meter.measure(any_code=True) as calls:
        started = time.perf_counter()
        result = manifest.build(st.bucket, "benchmark-1", LABELS)
        elapsed = time.perf_counter() - started
    assert result["ok"] and result["images"] == images, result
    size = st.client("s3").head_object(Bucket=st.bucket, Key=result["manifest_key"])["ContentLength"]

    # memory: the same build traced, the peak split at the start of the upload. moto would keep
    # every uploaded part in this process (about 135 MB for this manifest), so in this run the
    # upload is accepted and dropped: the peak is the handler's (its lines, pages, s3transfer's buffers).
    peaks: dict[str, int] = {}

    def split_and_drop_upload(model, **_):
        if model.name in ("CreateMultipartUpload", "PutObject") and "listing" not in peaks:
            peaks["listing"] = tracemalloc.get_traced_memory()[1]
            tracemalloc.reset_peak()
        answers = {"CreateMultipartUpload": {"UploadId": "benchmark", "Bucket": st.bucket, "Key": "-"},
                   "UploadPart": {"ETag": '"0"'}, "CompleteMultipartUpload": {"ETag": '"0"'},
                   "PutObject": {"ETag": '"0"'}}
        if model.name not in answers:
            return None
        parsed = answers[model.name] | {"ResponseMetadata": {"HTTPStatusCode": 200, "HTTPHeaders": {},
                                                             "RetryAttempts": 0}}
        return SimpleNamespace(status_code=200, headers={}, content=b"", raw=None), parsed

    events = runtime_aws.client("s3").meta.events
    events.register_first("before-call.s3", split_and_drop_upload)
    tracemalloc.start()
    try:
        manifest.build(st.bucket, "benchmark-2", LABELS)
        peaks["upload"] = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        events.unregister("before-call.s3", split_and_drop_upload)
    lists = sum(1 for _, _, op in calls if op == "ListObjectsV2")
    return {"images": result["images"], "seconds": elapsed, "seed_seconds": seeded, "calls": calls,
            "lists": lists, "manifest_bytes": size, "peak_listing": peaks.get("listing", 0),
            "peak_upload": peaks.get("upload", 0), "counts": result["counts"]}


# -- report ----------------------------------------------------------------------------------

def value_of(r: dict) -> float:
    return r["value"] if "value" in r else len(r["calls"])


def print_report(rows: list[dict], built: dict | None, seconds: float) -> None:
    print("labelloop: AWS requests per path, counted in moto — SDK calls by the functions, and orchestration")
    print("requests (state machine executions started + functions invoked); warm: parameters cached, cold: a new")
    print("container for every invocation")
    print()
    width = max(len(r["path"]) for r in rows) + 2
    print(f"{'path'.ljust(width)}{'mode':<6}{'SDK':>4}  {'target':<9}{'exec':>5}{'invoked':>8}  {'original':<20}detail")
    print("-" * (width + 110))
    for r in rows:
        value, target, found = value_of(r), r.get("target"), r.get("requests")
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        mark = "" if target is None else f"≤ {target} " + ("ok" if value <= target else "OVER")
        original = ORIGINAL.get(r.get("original") or "")
        theirs = (f"{original.sdk_calls} + {original.executions} + {original.invocations}" if original
                  else r.get("original") or "-")
        detail = r.get("detail") or breakdown(r.get("calls", []))
        print(f"{r['path'].ljust(width)}{r['mode']:<6}{shown:>4}  {mark:<9}{found.executions if found else '':>5}"
              f"{len(found.invocations) if found else '':>8}  {theirs:<20}{detail}")
    print(f"\noriginal: SDK + executions + functions invoked, counted in {SAMPLE} (no cache: cold = warm):")
    for name, original in ORIGINAL.items():
        print(f"  {name:<10} " + "; ".join(f"{call} {where}" for call, where in original.sdk))
    if built:
        print()
        print(f"manifest build, {built['images']:,} images in moto's S3 store:")
        print(f"  time              {built['seconds']:.1f} s  (handler only; seeding took {built['seed_seconds']:.1f} s)")
        print(f"  API calls         {len(built['calls'])}: {breakdown(built['calls'])}")
        print(f"  list calls        {built['lists']} (1 000 keys per page, and the gate set's; the training check itself lists nothing)")
        print(f"  manifest          {built['manifest_bytes'] / 1e6:.1f} MB, counters reconciled to {built['counts']}")
        print(f"  peak memory       {built['peak_listing'] / 1e6:.1f} MB while listing and writing lines "
              f"(spooled to disk past {manifest.SPOOL_BYTES // 2**20} MB), "
              f"{built['peak_upload'] / 1e6:.1f} MB during the upload (s3transfer's part buffers;"
              " moto's copy of the parts not counted)")
    print(f"\n(benchmark ran {seconds:.0f} s)")
    get = {(r["path"], r["mode"]): r for r in rows}
    confident, cold = get[("confident detection", "warm")], get[("confident detection", "cold")]
    builtin, a2i = get[("reviewed detection (builtin)", "warm")], get[("reviewed detection (a2i)", "warm")]
    checks = [len(r["calls"]) for r in rows if r["path"].startswith("training check")]
    summary = (f"SUMMARY confident_sdk={len(confident['calls'])} confident_requests={confident['requests'].orchestration} "
               f"confident_cold_sdk={len(cold['calls'])} review_builtin_sdk={len(builtin['calls'])} "
               f"review_builtin_cold_sdk={len(get[('reviewed detection (builtin)', 'cold')]['calls'])} "
               f"review_a2i_sdk={len(a2i['calls'])} review_requests={a2i['requests'].orchestration} "
               f"original_confident_sdk={ORIGINAL['confident'].sdk_calls} original_confident_requests="
               f"{ORIGINAL['confident'].executions + ORIGINAL['confident'].invocations} "
               f"original_review_sdk={ORIGINAL['review'].sdk_calls} original_review_requests="
               f"{ORIGINAL['review'].executions + ORIGINAL['review'].invocations} "
               f"sns_per_image={value_of(get[('SNS messages per detected image', 'warm')]):g} "
               f"training_check={'/'.join(map(str, checks))}")
    if built:
        summary += (f" manifest_{built['images'] // 1000}k_s={built['seconds']:.1f} "
                    f"manifest_peak_mb={max(built['peak_listing'], built['peak_upload']) / 1e6:.0f}")
    print(summary)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest-images", type=int, default=100_000,
                        help="training images for the manifest build (0: skip it)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with stack() as st:
        rows = measure_paths(st)
    with stack(review="builtin") as st:
        rows[2:2] = detection_paths(st, "warm", "builtin")
    for backend in ("a2i", "builtin"):
        with stack(review=backend, cold=True) as st:
            rows[len(rows) - 3:len(rows) - 3] = detection_paths(st, "cold", backend)
    built = None
    if args.manifest_images:
        with stack() as st:  # a bucket of its own: exactly the seeded images
            built = measure_manifest(st, args.manifest_images)
    over = [r["path"] for r in rows if r.get("target") is not None and value_of(r) > r["target"]]
    print_report(rows, built, time.perf_counter() - started)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
