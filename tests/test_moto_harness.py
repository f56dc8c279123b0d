"""The moto harness: it refuses a moto it was not written for, applies and undoes
its patches as one unit, and serialises moto's requests so that concurrent
writes behave as DynamoDB's do (none lost)."""

from __future__ import annotations

import re
import threading
import tomllib
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from sandbox import moto_harness
from sandbox.local_aws import LocalStack
from sandbox.moto_harness import MOTO_VERSION, MotoVersionError, RequestLock, check_moto_version

ROOT = Path(__file__).resolve().parents[1]
THREADS, UPDATES = 8, 40


def test_the_harness_is_written_for_the_pinned_moto():
    sandbox = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["sandbox"]
    [pin] = [d for d in sandbox if re.match(r"moto\b", d)]
    assert pin.endswith(f"=={MOTO_VERSION}")
    check_moto_version()  # the installed one


def test_another_moto_is_refused_with_both_versions_and_the_fix():
    with pytest.raises(MotoVersionError) as refused:
        check_moto_version("5.3.0")
    message = str(refused.value)
    assert f"patches moto {MOTO_VERSION}, but moto 5.3.0 is installed" in message
    assert f"Fix: pip install 'moto=={MOTO_VERSION}'" in message


def _moto_attributes() -> dict[str, object]:
    from moto.awslambda.models import LambdaFunction
    from moto.core.botocore_stubber import BotocoreStubber
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    return {"process_request": BotocoreStubber.process_request, "invoke": LambdaFunction._invoke_lambda,
            "start": ExecutionWorker.start, "entrypoint": ExecutionWorker._get_evaluation_entrypoint}


def test_patches_are_applied_together_and_undone_together():
    before = _moto_attributes()
    with LocalStack(labels=("cat", "dog"), serial=True):
        inside = _moto_attributes()
        assert all(inside[name] is not before[name] for name in before)
    assert _moto_attributes() == before


def test_a_stack_on_another_moto_does_not_start_and_leaves_moto_as_it_was(monkeypatch):
    import os

    before, environment = _moto_attributes(), dict(os.environ)
    monkeypatch.setattr(moto_harness, "MOTO_VERSION", "0.0.1")
    with pytest.raises(MotoVersionError, match="patches moto 0.0.1"):
        with LocalStack(labels=("cat", "dog")):
            pass  # pragma: no cover - never entered
    assert _moto_attributes() == before
    assert dict(os.environ) == environment


def test_the_request_lock_is_reentrant_and_can_be_let_go_however_deeply_held():
    lock, entered = RequestLock(), threading.Event()

    def other():
        with lock:
            entered.set()

    with lock, lock:
        thread = threading.Thread(target=other)
        thread.start()
        assert not entered.wait(0.1)  # held: the other thread waits
        with lock.released():
            assert entered.wait(5)  # let go: it gets in
            thread.join(5)
        assert lock.held_here()  # held again, as deeply as before
    assert not lock.held_here()
    later = threading.Thread(target=other)
    entered.clear()
    later.start()
    assert entered.wait(5)  # let go entirely
    later.join(5)


def _hammer(work) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def run():
        try:
            start.wait()
            for _ in range(UPDATES):
                work()
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return errors


def test_concurrent_add_and_conditional_updates_lose_nothing():
    with LocalStack(labels=("cat", "dog")) as stack:
        ddb = stack.client("dynamodb")
        key = {"pk": {"S": "HAMMER"}, "sk": {"S": "COUNTS"}}
        ddb.put_item(TableName=stack.table, Item=key | {"added": {"N": "0"}, "version": {"N": "0"}})

        def add():
            ddb.update_item(TableName=stack.table, Key=key, UpdateExpression="ADD added :one",
                            ExpressionAttributeValues={":one": {"N": "1"}})

        def compare_and_swap():
            while True:  # read, then write only if nobody wrote in between
                seen = ddb.get_item(TableName=stack.table, Key=key, ConsistentRead=True)["Item"]["version"]["N"]
                try:
                    ddb.update_item(TableName=stack.table, Key=key, UpdateExpression="SET version = :next",
                                    ConditionExpression="version = :seen",
                                    ExpressionAttributeValues={":seen": {"N": seen},
                                                               ":next": {"N": str(int(seen) + 1)}})
                    return
                except ClientError as exc:
                    if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                        raise

        def both():
            add()
            compare_and_swap()

        assert _hammer(both) == []
        item = ddb.get_item(TableName=stack.table, Key=key, ConsistentRead=True)["Item"]
        assert int(item["added"]["N"]) == THREADS * UPDATES
        assert int(item["version"]["N"]) == THREADS * UPDATES
