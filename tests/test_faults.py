"""Under injected faults nothing is lost, duplicated, failed or stuck, no image is trained that no
accepted review put there, and no model runs that should not: the seeded fault run (sandbox.fault_run)
over a stream of uploads delivered up to three times and out of order, review answers, uploaders'
deletions and two lifecycle runs, every invocation in a cold container of its function, with every
kind of fault (sandbox.faults): throttling, server errors, cancelled transactions, responses lost
after the call was applied, functions that die mid-way. The default review backend (the builtin app,
reviewers answering through its HTTP API) at 30 %, and A2I.

Also here: the defects these runs found, each as a test of its own."""

from __future__ import annotations

import json
import logging
import time

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError
from fault_support import failing, losing_response
from lifecycle_support import lifecycle_stack, loop, seed

from components.functions import FUNCTIONS
from components.state_machines import detection_definition, lifecycle_definition
from handlers import drain
from handlers.runtime import backoff, errors
from handlers.runtime.aws import CALL_ATTEMPTS
from handlers.runtime.settings import ParameterReader
from plugins import Engine
from sandbox import fault_run
from sandbox.faults import (
    AT_THE_END,
    CANCELLATION_REASONS,
    CRASH,
    CRASH_ERRORS,
    KINDS,
    RESPONSE_LOST,
    FaultInjector,
    FunctionCrashed,
    kinds_for,
)
from sandbox.local_aws import LocalStack

RUNS = {"builtin": dict(uploads=40, seed=1, fault_rate=0.3), "a2i": dict(uploads=30, seed=0, fault_rate=0.1)}


# -- the injector -------------------------------------------------------------------------------
@pytest.fixture
def plain_stack():
    with LocalStack(labels=("cat", "dog")) as stack:
        yield stack


def faulted_client(stack, service: str, **options):
    """A client whose every call meets the injector; one request a call (``client_attempts``) unless told."""
    injector = FaultInjector(**{"client_attempts": 1, **options})
    client = stack.session.client(service)
    injector.attach("detect", client)
    return injector, client


@pytest.mark.parametrize("reason", CANCELLATION_REASONS)
def test_a_cancelled_transaction_names_one_reason_per_item(plain_stack, reason):
    injector, ddb = faulted_client(plain_stack, "dynamodb", rate=1.0, kinds=(reason,))
    items = [{"Put": {"TableName": plain_stack.table, "Item": {"pk": {"S": f"X{i}"}, "sk": {"S": "X"}}}}
             for i in range(3)]
    with pytest.raises(ClientError) as cancelled:
        ddb.transact_write_items(TransactItems=items)
    reasons = errors.cancellation_reasons(cancelled.value)
    assert errors.error_code(cancelled.value) == "TransactionCanceledException"
    assert len(reasons) == 3 and reasons.count(reason) == 1 and reasons.count("None") == 2
    assert errors.is_transient(cancelled.value)  # what the fault is, as the runtime classifies it
    assert plain_stack.client("dynamodb").get_item(TableName=plain_stack.table,
                                                   Key={"pk": {"S": "X0"}, "sk": {"S": "X"}}).get("Item") is None
    assert [(f.function, f.operation, f.kind) for f in injector.faults] == [
        ("detect", "dynamodb.TransactWriteItems", reason)]


def test_a_lost_response_comes_after_the_write_was_applied(plain_stack):
    injector, ddb = faulted_client(plain_stack, "dynamodb", rate=1.0, kinds=(RESPONSE_LOST,))
    with pytest.raises((ReadTimeoutError, ConnectionClosedError)) as lost:
        ddb.put_item(TableName=plain_stack.table, Item={"pk": {"S": "X"}, "sk": {"S": "X"}})
    assert plain_stack.client("dynamodb").get_item(TableName=plain_stack.table,
                                                   Key={"pk": {"S": "X"}, "sk": {"S": "X"}})["Item"]
    assert errors.is_transient(lost.value)
    assert [(f.operation, f.kind, f.code) for f in injector.faults] == [
        ("dynamodb.PutItem", RESPONSE_LOST, type(lost.value).__name__)]


def test_a_throttled_parameter_read_reaches_the_reader_as_powertools_raises_it(plain_stack, monkeypatch):
    injector, ssm = faulted_client(plain_stack, "ssm", rate=1.0, kinds=("parameter_throttling",))
    monkeypatch.setattr("handlers.runtime.aws.client", lambda service: ssm)
    reader = ParameterReader(Engine.load([], entry_points=False).catalog, plain_stack.parameter_path, 60)
    with pytest.raises(Exception) as refused:
        reader.settings()  # a fresh container has no last good settings
    assert type(refused.value).__name__ == "ThrottlingException"
    assert isinstance(refused.value.__cause__, errors.GetParameterError)
    assert injector.by_kind() == {"parameter_throttling": 1}


def test_the_injector_plays_the_clients_attempts_each_drawn_afresh(plain_stack):
    injector, ddb = faulted_client(plain_stack, "dynamodb", rate=1.0, kinds=("throttling",),
                                   client_attempts=CALL_ATTEMPTS)
    with pytest.raises(ClientError) as throttled:
        ddb.get_item(TableName=plain_stack.table, Key={"pk": {"S": "X"}, "sk": {"S": "X"}})
    assert throttled.value.response["ResponseMetadata"]["RetryAttempts"] == CALL_ATTEMPTS - 1
    assert injector.calls["dynamodb.GetItem"] == CALL_ATTEMPTS and len(injector.faults) == CALL_ATTEMPTS
    cancelling, ddb = faulted_client(plain_stack, "dynamodb", rate=1.0, kinds=("TransactionConflict",),
                                     client_attempts=CALL_ATTEMPTS)
    with pytest.raises(ClientError):  # botocore does not retry a cancelled transaction: the state module does
        ddb.transact_write_items(TransactItems=[{"Put": {"TableName": plain_stack.table,
                                                         "Item": {"pk": {"S": "X"}, "sk": {"S": "X"}}}}])
    assert len(cancelling.faults) == 1


def test_each_call_meets_only_the_faults_aws_documents_for_it():
    assert kinds_for("dynamodb", "TransactWriteItems") == ("throttling", "server_error", *CANCELLATION_REASONS,
                                                           RESPONSE_LOST)
    assert kinds_for("dynamodb", "UpdateItem") == ("throttling", "server_error", RESPONSE_LOST)
    assert kinds_for("ssm", "GetParametersByPath") == ("parameter_throttling", "server_error", RESPONSE_LOST)
    with pytest.raises(ValueError, match="unknown fault kinds"):
        FaultInjector(kinds=("gremlins",))


def test_the_same_seed_injects_the_same_faults(plain_stack):
    def run(seed):
        injector, s3 = faulted_client(plain_stack, "s3", seed=seed, rate=0.5)
        for i in range(30):
            try:
                s3.head_bucket(Bucket=plain_stack.bucket)
            except (ClientError, ReadTimeoutError, ConnectionClosedError):
                pass
        return [(f.operation, f.code) for f in injector.faults]

    assert run(3) == run(3) and run(3) != run(4) and run(3)


def dying_invocation(stack, seed: int):
    """One invocation of ``detect`` that dies at its first call (nothing ran before it): whether that
    call was applied, the calls it made, what it failed with, the faults recorded."""
    injector, s3 = faulted_client(stack, "s3", seed=seed, rate=0.0, crash_rate=1.0)
    key = f"k{seed}"
    with pytest.raises(FunctionCrashed) as died:
        with injector.invocation("detect") as invocation:
            try:
                s3.put_object(Bucket=stack.bucket, Key=key, Body=b"1")
            except Exception:
                pass  # a handler's except does not keep a dead function alive
            s3.put_object(Bucket=stack.bucket, Key=f"{key}-after", Body=b"2")
    listed = {o["Key"] for o in stack.client("s3").list_objects_v2(Bucket=stack.bucket).get("Contents", [])}
    return invocation, key in listed, f"{key}-after" in listed, died.value, injector.faults


def test_a_function_that_dies_does_nothing_more_and_fails_as_aws_reports_it(plain_stack):
    seen = {}
    for draw in range(12):
        invocation, applied, after, died, faults = dying_invocation(plain_stack, draw)
        assert applied == invocation.death.after  # died just before the call, or just after it was applied
        assert not after and type(died).__name__ in CRASH_ERRORS
        assert [(f.function, f.operation, f.kind, f.code) for f in faults] == [
            ("detect", "s3.PutObject", CRASH, type(died).__name__)]
        seen[invocation.death.after] = seen.get(invocation.death.after, set()) | {type(died).__name__}
    assert set(seen) == {True, False} and set().union(*seen.values()) == set(CRASH_ERRORS)


def test_an_invocation_that_makes_fewer_calls_than_drawn_dies_after_its_work():
    injector = FaultInjector(seed=0, rate=0.0, crash_rate=1.0)
    with pytest.raises(FunctionCrashed):
        with injector.invocation("summary"):
            pass
    assert [(f.operation, f.kind) for f in injector.faults] == [(AT_THE_END, CRASH)]
    with injector.paused(), injector.invocation("summary"):
        pass  # paused: nothing dies


# -- defects the fault runs found, each fixed ---------------------------------------------------------------
def test_a_cold_parameter_read_whose_response_is_lost_fails_under_a_name_the_retry_rules_match(plain_stack,
                                                                                               monkeypatch):
    _, ssm = faulted_client(plain_stack, "ssm", rate=1.0, kinds=(RESPONSE_LOST,))
    monkeypatch.setattr("handlers.runtime.aws.client", lambda service: ssm)
    reader = ParameterReader(Engine.load([], entry_points=False).catalog, plain_stack.parameter_path, 60)
    with pytest.raises(Exception) as refused:
        reader.settings()
    assert type(refused.value).__name__ in errors.RETRY_ERROR_NAMES


def lambda_tasks(definition: dict) -> dict[str, dict]:
    """Every Lambda task of a state machine definition, by name (Parallel and Map branches included)."""
    found, frontier = {}, [definition]
    while frontier:
        for name, state in frontier.pop().get("States", {}).items():
            if state.get("Type") == "Task" and "lambda" in state.get("Resource", ""):
                found[name] = state
            frontier += state.get("Branches", []) + [s for s in (state.get("Iterator"), state.get("ItemProcessor")) if s]
    return found


def test_every_lambda_task_retries_a_function_that_died():
    functions = {key: f"arn:aws:lambda:us-east-1:123456789012:function:{key}" for key in FUNCTIONS}
    definitions = [detection_definition(functions["detect"], functions["start_review"], functions["detection_failed"]),
                   lifecycle_definition(functions)]
    missing = {name: sorted(set(CRASH_ERRORS) - {e for rule in task.get("Retry", []) for e in rule["ErrorEquals"]})
               for definition in definitions for name, task in lambda_tasks(definition).items()}
    assert not {name: names for name, names in missing.items() if names}


@pytest.mark.slow
def test_a_training_check_whose_lock_was_taken_before_its_retry_trains():
    with lifecycle_stack() as stack:
        seed(stack, {"cat": 6, "dog": 6})
        lost = []

        def first_lock(n: int, request: dict) -> bool:
            if not lost and b"attribute_not_exists(training_owner)" in request["body"]:
                lost.append(n)
            return lost == [n]

        with losing_response("dynamodb", "UpdateItem", first_lock):
            execution = stack.run_lifecycle()
        assert lost
        assert execution["status"] == "SUCCEEDED"
        assert loop().active_version == "v1" and loop().training_owner is None


@pytest.mark.slow
def test_a_first_training_that_failed_for_a_transient_reason_is_trained_again_by_the_next_run():
    with lifecycle_stack() as stack:
        seed(stack, {"cat": 6, "dog": 6})
        with failing("rekognition", "CreateProjectVersion", "ThrottlingException", lambda n, request: True):
            first = stack.run_lifecycle()
        assert first["status"] == "FAILED" and loop().training_owner is None
        second = stack.run_lifecycle()
        assert second["status"] == "SUCCEEDED" and loop().active_version is not None


# -- the fault runs ----------------------------------------------------------------------------------
@pytest.fixture(scope="module", params=sorted(RUNS))
def report(request):
    logging.getLogger("handlers").setLevel(logging.CRITICAL)  # the errors the handlers meet: the report has them
    try:
        yield fault_run.run(backend=request.param, **RUNS[request.param])
    finally:
        logging.getLogger("handlers").setLevel(logging.NOTSET)


def explained(report) -> str:
    return "\n".join(report.lines())


@pytest.mark.slow
def test_the_run_meets_every_kind_of_fault_over_duplicate_deliveries(report):
    assert set(report.injector.by_kind()) == set(KINDS) | {CRASH}, explained(report)
    assert report.uploads == RUNS[report.backend]["uploads"] and report.deliveries > 1.5 * report.uploads
    assert len(report.lifecycle) >= 2 and report.reviews["accepted"] > 0 and report.deleted > 0
    rate = len(report.injector.faults) / sum(report.injector.calls.values())
    assert report.fault_rate - 0.05 < rate < report.fault_rate + 0.05
    assert report.summary() == explained(report).splitlines()[-1]
    assert json.dumps(report.tally().counts)  # what a benchmark's processes hand back


@pytest.mark.slow
def test_the_reviewers_answer_through_the_api_and_click_again_after_a_failure(report):
    if report.backend != "builtin":
        pytest.skip("A2I's workforce writes output files")
    assert report.requests["answer 200"] > 0 and report.requests["answer 500 (function failed)"] > 0
    assert report.requests["next 500 (function failed)"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("cls", fault_run.CLASSES)
def test_the_audit_finds_nothing(report, request, cls):
    """Nothing lost (an upload without its record, an answer the API took and did not record), duplicated
    (counters, reviews, human loops), failed, stuck, mislabelled (a training or gate-set copy that is not
    the one copy of a review accepted with its label, an accepted review without its copy), and no model
    running beside the active one."""
    assert report.count(cls) == 0, explained(report)


def test_a_fault_runs_waits_pass_on_its_own_clock_and_the_drains_pace_with_them():
    """The drain paces its calls by the clock the run stamps records with: a real wait would not move
    that clock, and a paced drain would wait longer at every call (a run that never ends)."""
    with fault_run.reproducible(0) as clock:
        pacer, started = drain.Pacer(rate=0.5), clock.now()
        for _ in range(3):
            drain.sleep(pacer.delay((clock.now() - started).total_seconds()))
        backoff.sleep(1.5)
        assert (clock.now() - started).total_seconds() == 2 + 2 + 1.5  # three calls at 0.5 a second, a backoff
    assert drain.sleep is time.sleep and backoff.sleep is time.sleep
