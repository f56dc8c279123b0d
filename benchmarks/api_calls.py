"""AWS API calls per path of the loop, counted in a LocalStack (moto), and the
cost of building a training manifest.

Run from the repository root:

    python benchmarks/api_calls.py                    # everything (about a minute)
    python benchmarks/api_calls.py --manifest-images 0  # API calls only (seconds)

Every call a botocore client makes is seen by a ``before-call`` handler on the
stack's session; a call counts when handler code (a module of the ``handlers``
package) is on the calling stack, so the harness's own calls (uploads, event
delivery, state machine bookkeeping) are not counted. All paths are measured in
steady state: the parameters are cached and the clients exist.

The manifest build lists 100 000 objects stored in moto's S3 backend. moto
serialises every listed page to XML and botocore parses it back, which costs
about 0.4 s per 1 000 keys and would measure moto rather than the handler; the
benchmark answers ``ListObjectsV2`` straight from moto's object store instead
(same keys, same page size, same response shape), so the time and memory shown
are the handler's.
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


# -- the stack -------------------------------------------------------------------------------

@contextmanager
def stack():
    models, a2i = scripted_custom_labels(labels=LABELS, default_labels=CONFIDENT), A2I()
    models.add_running(MODEL_ARN)  # the model the detections use
    with LocalStack(labels=LABELS, standins={"rekognition": models, "sagemaker-a2i-runtime": a2i}) as st:
        meter = Meter()
        st.watch_calls(meter)
        st.models, st.a2i, st.meter = models, a2i, meter
        context.table().switch_active("v1", MODEL_ARN, None, None)
        yield st


def upload(st, key: str, scores=CONFIDENT) -> None:
    st.models.trainer.by_key[key] = scores
    st.client("s3").put_object(Bucket=st.bucket, Key=key, Body=PNG)
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


# -- the paths -------------------------------------------------------------------------------

def measure_paths(st) -> list[dict]:
    rows = []
    meter = st.meter

    # steady state: parameters read and cached, clients created, engine loaded
    upload(st, "images_for_detection/warm/confident.png")
    upload(st, "images_for_detection/warm/unsure.png", UNSURE)

    with meter.measure() as calls:
        upload(st, "images_for_detection/bench/confident.png")
    rows.append({"path": "confident detection", "calls": calls, "target": 3, "original": "8"})

    loops_before = set(st.a2i.loops)
    with meter.measure() as calls:
        upload(st, "images_for_detection/bench/unsure.png", UNSURE)
    [loop_name] = set(st.a2i.loops) - loops_before
    rows.append({"path": "low-confidence detection + review start", "calls": calls, "target": 5, "original": "12",
                 "detail": f"detect {len(by_entry(calls, 'handlers.detect'))}, "
                           f"start_review {len(by_entry(calls, 'handlers.start_review'))}"})

    with meter.measure() as calls:
        for i in range(20):
            upload(st, f"images_for_detection/bench/batch-{i}.png", UNSURE if i % 4 == 0 else CONFIDENT)
    published = sum(1 for _, service, op in calls if op == "Publish")
    rows.append({"path": "SNS messages per detected image", "value": published / 20, "target": 0,
                 "original": "1 e-mail", "detail": f"{published} Publish in 20 detections (5 reviews)"})

    with meter.measure() as calls:
        write_output(st, loop_name, "dog")
    review = by_entry(calls, "handlers.review_output")
    echo = by_entry(calls, "handlers.training_data")
    rows.append({"path": "review output (accepted, image copied)", "calls": review, "original": "-"})
    rows.append({"path": "  + counter event of the copy (no-op)", "calls": echo, "original": "-"})

    with meter.measure() as calls:
        st.client("s3").put_object(Bucket=st.bucket, Key="images_labeled_by_folder/cat/bench.png", Body=PNG)
        st.pump()
    rows.append({"path": "training-data counter update", "calls": calls, "original": "-"})

    table = context.table()
    context.settings()  # the check reads the parameters; cached like every path above
    for size in CHECK_SIZES:
        per_label = size // len(LABELS)
        table.set_counts({label: per_label for label in LABELS})
        table.mark_seen({label: per_label - 10 for label in LABELS})
        owner = f"benchmark-{size}"
        with meter.measure() as calls:
            result = check.check(owner, "manual")
        assert result["train"] and result["images"] == size, result
        table.release_training_lock(owner)
        table.mark_seen({label: per_label for label in LABELS})
        with meter.measure() as idle:
            result = check.check(owner, "manual")
        assert not result["train"], result
        rows.append({"path": f"training check, {size:>9,} images", "calls": calls, "target": 4,
                     "original": f"~{size // 1000:,} list call{'s' if size > 1000 else ''}",
                     "detail": f"{breakdown(calls)}; without training {len(idle)}"})
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

def print_report(rows: list[dict], built: dict | None, seconds: float) -> None:
    print("labelloop: AWS API calls per path (steady state, counted in moto)")
    print()
    width = max(len(r["path"]) for r in rows) + 2
    print(f"{'path'.ljust(width)}{'calls':>6}  {'target':>6}  {'original':<18}detail")
    print("-" * (width + 100))
    for r in rows:
        value = r["value"] if "value" in r else len(r["calls"])
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        target = r.get("target")
        mark = "" if target is None else (" ok" if value <= target else " OVER")
        detail = r.get("detail") or breakdown(r.get("calls", []))
        print(f"{r['path'].ljust(width)}{shown:>6}  {('≤ ' + str(target)) if target is not None else '':>6}"
              f"{mark:<4}{r['original']:<18}{detail}")
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
    print()
    print("compared with the original: a confident detection 8 calls, a reviewed one 12, one e-mail per image,")
    print("and a training check that lists the whole bucket (about 1 000 list calls at a million objects).")
    print(f"(benchmark ran {seconds:.0f} s)")
    get = {r["path"]: r for r in rows}
    checks = [len(r["calls"]) for r in rows if r["path"].startswith("training check")]
    summary = (f"SUMMARY confident={len(get['confident detection']['calls'])} calls (original 8), "
               f"review={len(get['low-confidence detection + review start']['calls'])} (original 12), "
               f"sns_per_image={get['SNS messages per detected image']['value']:g} (original 1), "
               f"training_check={'/'.join(map(str, checks))} at 1k/100k/1M images (original ~1/100/1000 lists)")
    if built:
        summary += (f", manifest_{built['images'] // 1000}k={built['seconds']:.1f}s "
                    f"peak={max(built['peak_listing'], built['peak_upload']) / 1e6:.0f}MB")
    print(summary)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest-images", type=int, default=100_000,
                        help="training images for the manifest build (0: skip it)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with stack() as st:
        rows = measure_paths(st)
    built = None
    if args.manifest_images:
        with stack() as st:  # a bucket of its own: exactly the seeded images
            built = measure_manifest(st, args.manifest_images)
    over = [r["path"] for r in rows if r.get("target") is not None
            and (r["value"] if "value" in r else len(r["calls"])) > r["target"]]
    print_report(rows, built, time.perf_counter() - started)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
