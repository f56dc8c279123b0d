"""Save a sandbox stack to a folder and bring it back later, so operator
commands (``labelloop status --sandbox DIR`` …) work on a finished run: as a
read-only snapshot of its table and parameters, restored in full, or served
to the review app (:func:`reviewing`).

The folder holds ``state.json`` (table items, parameter values, labels,
policies, the true labels of the images, the CloudWatch datapoints of
``InServiceInferenceUnits``), ``objects.tar`` (the bucket),
``services.pkl`` (the local model versions and human loops) and, while
``labelloop review`` serves it or after it was stopped short, ``journal.jsonl``
(each answer's changes, on disk before the answer is acknowledged:
:mod:`sandbox.journal`). Every read applies the journal; a command that
changes a run holds ``.lock`` (another one waits for it, then is refused) and
folds the journal into the saved state first. ``state.json`` and
``objects.tar`` are replaced whole, so a reader never sees half of either.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import tarfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator
from unittest import mock

import boto3

from components.naming import Naming
from handlers.review_backends import DEFAULT as DEFAULT_REVIEW
from handlers.runtime.state import StateTable, attribute_values, plain_item, table_definition

from . import journal
from .custom_labels import NAMESPACE, PUT_LIMIT, CustomLabels
from .identifiers import ACCOUNT
from .local_aws import REGION, LocalStack
from .moto_harness import put_table_items, table_items
from .review_backends import sandbox_backend
from .recorder import Recorder, SavedBucket, SavedTable, bodies

STATE, OBJECTS, SERVICES, LOCK = "state.json", "objects.tar", "services.pkl", ".lock"
LOCK_WAIT_SECONDS = 60.0  # how long a second command changing the same run waits before it is refused


class RunBusy(RuntimeError):
    """Another command is changing the saved run."""


class NotASandbox(FileNotFoundError):
    """The folder holds no saved sandbox run."""


def save(stack: LocalStack, out: Path, *, truth: dict[str, str], options: dict[str, Any],
         model_service: CustomLabels) -> dict:
    """Write the stack's table, parameters, bucket and local services (the model service's, the review
    backend's stand-ins') into ``out`` (in place of what was saved there, a journal included)."""
    out.mkdir(parents=True, exist_ok=True)
    journal.remove(out)  # the stack holds its changes already (restore folded them in), or this is a new run
    model_service.settle()  # a start or stop asked for completes (its minutes pass before the run is read again)
    model_service.flush()  # what ran so far, as CloudWatch has it
    state = {"stack": stack.stack, "labels": list(stack.labels), "policies": list(stack.policies),
             "parameters": parameters(stack), "items": [plain_item(i) for i in table_items(stack.table, ACCOUNT, REGION)],
             "truth": truth,
             "options": options, "saved_at": datetime.now(timezone.utc).isoformat(),  # the run's clock stops here
             # as DescribeProjectVersions has them: read without unpickling the models (and scikit-learn)
             "model_versions": [{"version": v.name, "arn": v.arn, "status": v.status, "units": v.min_units}
                                for v in model_service.versions.values()],
             "metrics": [dict(d, Timestamp=d["Timestamp"].isoformat()) for d in model_service.published]}
    kept = sandbox_backend(stack.review).kept(stack)  # its settings and secrets: the same stack when served again
    if kept:
        state["review_backend"] = kept
    _write_objects(out, bodies(stack))
    write_state(out, state)
    with open(out / SERVICES, "wb") as handle:
        pickle.dump({"versions": model_service.versions, "seed": model_service.trainer.seed,
                     "side": model_service.trainer.side, **sandbox_backend(stack.review).saved(stack.standins)},
                    handle)
    return state


def write_state(folder: Path, state: dict) -> None:
    """Replace ``state.json`` in one step (a reader sees the old file or the new one)."""
    _replace(Path(folder) / STATE, lambda handle: handle.write(json.dumps(state, default=str).encode()))


def _write_objects(folder: Path, objects: Iterable[tuple[str, bytes]],
                   kept: tuple[tarfile.TarFile, Callable[[str], bool]] | None = None) -> None:
    """Replace ``objects.tar`` in one step with ``objects`` (key, body), after the members of ``kept``
    (an open archive, and which of its members to keep)."""
    def write(handle) -> None:
        with tarfile.open(fileobj=handle, mode="w") as archive:
            if kept is not None:
                source, keep = kept
                for member in source.getmembers():
                    if member.isfile() and keep(member.name):
                        archive.addfile(member, source.extractfile(member))
            for key, body in objects:
                info = tarfile.TarInfo(key)
                info.size = len(body)
                archive.addfile(info, io.BytesIO(body))

    _replace(Path(folder) / OBJECTS, write)


def _replace(path: Path, write: Callable[[Any], Any]) -> None:
    """Write a file beside ``path``, sync it and put it in ``path``'s place, durably."""
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    with open(partial, "wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)
    journal.sync_folder(path.parent)


def fold(folder: Path) -> int:
    """Write the run's journal into ``state.json`` and ``objects.tar``, then drop it; returns how many
    changes it held. Call it holding the run's lock. Interrupted anywhere, the journal is still there
    and is applied again (to the same effect) by the next read or fold."""
    folder = Path(folder)
    changes = journal.read(folder)
    if changes:
        written, deleted = journal.apply_objects(changes)
        gone = written.keys() | deleted
        if gone and (folder / OBJECTS).is_file():
            with tarfile.open(folder / OBJECTS) as kept:
                _write_objects(folder, written.items(), (kept, lambda key: key not in gone))
        elif gone:
            _write_objects(folder, written.items())
        state = _read_state(folder)
        state["items"] = journal.apply_items(state.get("items", []), changes)
        write_state(folder, state)
    journal.remove(folder)
    return len(changes)


@contextlib.contextmanager
def locked(folder: Path, waiting: Callable[[], None] = lambda: None,
           wait_seconds: float | None = None) -> Iterator[None]:
    """Hold the run's lock: one command changes a saved run at a time. A second one calls ``waiting()``
    once, waits up to ``wait_seconds`` (default LOCK_WAIT_SECONDS), then raises RunBusy."""
    import fcntl

    deadline = time.monotonic() + (LOCK_WAIT_SECONDS if wait_seconds is None else wait_seconds)
    with open(Path(folder) / LOCK, "a+") as handle:
        told = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise RunBusy(f"another command is changing the sandbox run in {folder} (it holds "
                                  f"{Path(folder) / LOCK}); nothing was changed: try again when it has finished") from None
                if not told:
                    waiting()
                    told = True
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def change_parameter(folder: Path, name: str, value: str) -> None:
    """Change one operator parameter of a saved run in place, in seconds: the change event is handled as on
    AWS, by a stack that holds the run's parameters and an empty table (a parameter change reads no more);
    what the handler records joins the saved items. Call it holding the run's lock."""
    folder = Path(folder)
    fold(folder)  # what follows writes state.json: the journal is in it first
    state = load_state(folder)
    with LocalStack(labels=tuple(state["labels"]), policies=tuple(state["policies"]), stack=state["stack"],
                    serial=True, workflows=False) as stack:
        _put_parameters(stack.client("ssm"), state, stack.naming)
        stack.discard_pending_events()
        table = StateTable(stack.table)
        new_stack = {_item_key(i) for i in table.all_items()}
        stack.set_parameter(name, value)
        stack.pump()
        written = {_item_key(i): i for i in table.all_items() if _item_key(i) not in new_stack}
        state["parameters"] = parameters(stack)
    state["saved_at"] = datetime.now(timezone.utc).isoformat()  # changed now: its views are as of now
    state["items"] = [i for i in state.get("items", []) if _item_key(i) not in written] + list(written.values())
    write_state(folder, state)


def _item_key(item: dict) -> tuple[str, str]:
    return item["pk"], item["sk"]


def load_state(folder: Path) -> dict:
    """The saved state with the journal applied: every answer acknowledged so far."""
    changes = journal.read(folder)  # first: a fold meanwhile leaves a state that holds it already
    state = _read_state(folder)
    if changes:
        state["items"] = journal.apply_items(state.get("items", []), changes)
    return state


def policy_folders(state: dict) -> tuple[str, ...]:
    """The folders the run imported its policy modules from (``labelloop sandbox --policy-path``)."""
    return tuple((state.get("options") or {}).get("policy_path") or ())


def _read_state(folder: Path) -> dict:
    path = Path(folder) / STATE
    if not path.is_file():
        raise NotASandbox(f"{folder} holds no saved sandbox run ({STATE} is missing); "
                          "run `labelloop sandbox --out DIR` first")
    return json.loads(path.read_text())


def review_of(state: dict) -> str:
    """The review backend a saved run reviewed with (``labelloop sandbox --review``)."""
    return (state.get("options") or {}).get("review") or DEFAULT_REVIEW


def saved_versions(folder: Path) -> dict:
    """The saved local model service's versions by name ({} when the run saved none)."""
    path = Path(folder) / SERVICES
    if not path.is_file():
        return {}
    with open(path, "rb") as handle:
        return pickle.load(handle).get("versions", {})  # written by this tool into this folder


@contextlib.contextmanager
def restore(folder: Path) -> Iterator[tuple[LocalStack, CustomLabels, dict]]:
    """A running LocalStack holding the saved run (saved back on a clean exit if it changed)."""
    from .digits_trainer import DigitsTrainer  # scikit-learn: only a full restore needs it

    folder = Path(folder)
    fold(folder)
    state = load_state(folder)
    services: dict = {}
    if (folder / SERVICES).is_file():
        with open(folder / SERVICES, "rb") as handle:
            services = pickle.load(handle)  # written by this tool into this folder
    model_service = CustomLabels(DigitsTrainer(services.get("seed", 0), services.get("side", 8)),
                                 cloudwatch=lambda: boto3.client("cloudwatch", region_name=REGION))
    model_service.versions = services.get("versions", {})
    review = review_of(state)
    with LocalStack(labels=tuple(state["labels"]), policies=tuple(state["policies"]), stack=state["stack"],
                    standins={"rekognition": model_service, **sandbox_backend(review).standins(services)},
                    serial=True, review=review) as stack:
        bucket = SavedBucket(stack, folder / OBJECTS)
        bucket.load_prefix("")  # every object, as if it had been there all along: no events
        bucket.close()
        put_table_items(stack.table, ACCOUNT, REGION, [attribute_values(i) for i in state.get("items", [])])
        _put_parameters(stack.client("ssm"), state, stack.naming)
        sandbox_backend(review).resume(stack, state.get("review_backend") or {})
        model_service.published = _put_metrics(stack.client("cloudwatch"), state)
        stack.discard_pending_events()
        yield stack, model_service, state
        save(stack, folder, truth=state.get("truth", {}), options=state.get("options", {}),
             model_service=model_service)


@contextlib.contextmanager
def reviewing(folder: Path, say: Callable[[str], None] = lambda _: None) -> Iterator[tuple[LocalStack, Recorder]]:
    """The saved run served to the review app, in seconds: a LocalStack with the run's parameters, whose
    table and bucket load each item and object when a call first needs it, and a :class:`Recorder` of
    what each request changes (the caller journals it). Call it holding the run's lock; the journal is
    folded into the saved state when the block ends, however it ends."""
    folder = Path(folder)
    folded = fold(folder)
    if folded:
        say(f"  wrote {folded} change{'s' * (folded != 1)} journaled earlier into the saved run")
    state = load_state(folder)
    started = time.perf_counter()
    say("  starting the review function and its stand-ins in moto…")
    try:
        with LocalStack(labels=tuple(state["labels"]), policies=tuple(state["policies"]), stack=state["stack"],
                        serial=True, review=review_of(state)) as stack:
            _put_parameters(stack.client("ssm"), state, stack.naming)
            sandbox_backend(stack.review).resume(stack, state.get("review_backend") or {})
            table, bucket = SavedTable(stack, state.get("items", [])), SavedBucket(stack, folder / OBJECTS)
            say(f"  ready in {time.perf_counter() - started:.1f} s; the run's {table.saved} table items and "
                f"{bucket.saved} objects are read as the app asks for them")
            try:
                yield stack, Recorder(stack, table, bucket)
            finally:
                bucket.close()
    finally:
        started, changes = time.perf_counter(), len(journal.read(folder))
        if changes:
            say(f"Writing the {changes} journaled change{'s' * (changes != 1)} into {folder / STATE} and "
                f"{OBJECTS}…")
        fold(folder)
        if changes:
            say(f"  done in {time.perf_counter() - started:.1f} s")


@contextlib.contextmanager
def snapshot(state: dict) -> Iterator[Callable[[str], Any]]:
    """The saved table and parameters in moto, for reads: what a read needs, in a fraction of a full restore,
    each loaded when first asked for (a parameter read loads no table). Yields a function that returns a
    client of a service."""
    from moto import mock_aws

    credentials = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                   "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION}
    with mock.patch.dict(os.environ, credentials), mock_aws():
        session, clients = boto3.Session(region_name=REGION), {}
        naming = Naming(state["stack"])

        def client(service: str):
            if service not in clients:
                clients[service] = session.client(service)
                if service == "dynamodb":
                    clients[service].create_table(**table_definition(naming.table))
                    put_table_items(naming.table, ACCOUNT, REGION, [attribute_values(i) for i in state.get("items", [])])
                elif service == "ssm":
                    _put_parameters(clients[service], state, naming)
                elif service == "cloudwatch":
                    _put_metrics(clients[service], state)
            return clients[service]

        yield client


def _put_parameters(ssm, state: dict, naming: Naming) -> None:
    for name, value in state.get("parameters", {}).items():
        ssm.put_parameter(Name=naming.parameter_path + name, Value=value, Type="String", Overwrite=True)


def _put_metrics(cloudwatch, state: dict) -> list[dict]:
    """The run's InServiceInferenceUnits datapoints back into CloudWatch; the datapoints."""
    data = [dict(d, Timestamp=datetime.fromisoformat(d["Timestamp"])) for d in state.get("metrics", [])]
    for chunk in range(0, len(data), PUT_LIMIT):
        cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=data[chunk:chunk + PUT_LIMIT])
    return data


def parameters(stack: LocalStack) -> dict[str, str]:
    values = {}
    for page in stack.client("ssm").get_paginator("get_parameters_by_path").paginate(Path=stack.parameter_path):
        for parameter in page["Parameters"]:
            values[parameter["Name"][len(stack.parameter_path):]] = parameter["Value"]
    return values
