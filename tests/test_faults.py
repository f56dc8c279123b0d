"""Under injected faults nothing is lost, duplicated, failed or stuck, and no model runs that
should not: the seeded fault run (sandbox.fault_run) over a stream of uploads delivered up to three
times and out of order, review answers and two lifecycle runs, every invocation in a cold container
of its function, 10 % of the functions' calls faulted with every kind of fault (sandbox.faults)."""

from __future__ import annotations

import logging

import pytest
from botocore.exceptions import ClientError

from handlers.runtime import errors
from handlers.runtime.settings import ParameterReader
from plugins import Engine
from sandbox import fault_run
from sandbox.faults import CANCELLATION_REASONS, KINDS, FaultInjector, kinds_for
from sandbox.local_aws import LocalStack

UPLOADS, SEED, RATE = 100, 7, 0.1


# -- the injector -------------------------------------------------------------------------------
@pytest.fixture
def plain_stack():
    with LocalStack(labels=("cat", "dog")) as stack:
        yield stack


def faulted_client(stack, service: str, **options):
    injector = FaultInjector(**options)
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


def test_a_throttled_parameter_read_reaches_the_reader_as_powertools_raises_it(plain_stack, monkeypatch):
    injector, ssm = faulted_client(plain_stack, "ssm", rate=1.0, kinds=("parameter_throttling",))
    monkeypatch.setattr("handlers.runtime.aws.client", lambda service: ssm)
    reader = ParameterReader(Engine.load([], entry_points=False).catalog, plain_stack.parameter_path, 60)
    with pytest.raises(Exception) as refused:
        reader.settings()  # a fresh container has no last good settings
    assert type(refused.value).__name__ == "ThrottlingException"
    assert isinstance(refused.value.__cause__, errors.GetParameterError)
    assert injector.by_kind() == {"parameter_throttling": 1}


def test_each_call_meets_only_the_faults_aws_documents_for_it():
    assert kinds_for("dynamodb", "TransactWriteItems") == ("throttling", "server_error", *CANCELLATION_REASONS)
    assert kinds_for("dynamodb", "UpdateItem") == ("throttling", "server_error")
    assert kinds_for("ssm", "GetParametersByPath") == ("parameter_throttling", "server_error")
    with pytest.raises(ValueError, match="unknown fault kinds"):
        FaultInjector(kinds=("gremlins",))


def test_the_same_seed_injects_the_same_faults(plain_stack):
    def run(seed):
        injector, s3 = faulted_client(plain_stack, "s3", seed=seed, rate=0.5)
        for i in range(30):
            try:
                s3.head_bucket(Bucket=plain_stack.bucket)
            except ClientError:
                pass
        return [(f.operation, f.code) for f in injector.faults]

    assert run(3) == run(3) and run(3) != run(4) and run(3)


# -- the fault run ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def report():
    logging.getLogger("handlers").setLevel(logging.CRITICAL)  # notifications that could not be sent
    try:
        yield fault_run.run(uploads=UPLOADS, seed=SEED, fault_rate=RATE)
    finally:
        logging.getLogger("handlers").setLevel(logging.NOTSET)


def explained(report) -> str:
    return "\n".join(report.lines())


@pytest.mark.slow
def test_the_run_meets_every_kind_of_fault_over_duplicate_deliveries(report):
    assert set(report.injector.by_kind()) == set(KINDS), explained(report)
    assert report.uploads == UPLOADS and report.deliveries > 1.5 * UPLOADS
    assert len(report.lifecycle) == 2 and report.reviews > 0
    assert 0.07 < len(report.injector.faults) / sum(report.injector.calls.values()) < 0.13
    assert report.summary() == explained(report).splitlines()[-1]


@pytest.mark.slow
def test_no_upload_is_lost(report):
    assert report.count("lost") == 0, explained(report)


@pytest.mark.slow
def test_nothing_is_duplicated(report):
    assert report.count("duplicated") == 0, explained(report)


@pytest.mark.slow
def test_nothing_fails(report):
    assert report.count("failed") == 0, explained(report)


@pytest.mark.slow
def test_nothing_is_stuck(report):
    assert report.count("stuck") == 0, explained(report)


@pytest.mark.slow
def test_no_stray_model_runs(report):
    assert report.count("stray_models") == 0, explained(report)
