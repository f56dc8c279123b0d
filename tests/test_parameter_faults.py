"""Parameter reads under faults and deletes: a throttled read neither fails the work nor
silently uses the defaults, and a deleted parameter means its default in every container."""

from __future__ import annotations

import logging

import boto3
import pytest
from aws_lambda_powertools.utilities.parameters import SSMProvider
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from lifecycle_support import deploy_first, lifecycle_stack, loop
from stack_support import detection_result, local_stack, set_parameters, upload

from handlers.runtime import aws, context, errors
from handlers.runtime.settings import ParameterReader
from policies.names import MIN_CONFIDENCE

PATH = "/labelloop/t/"
EIGHTY = (("cat", 80.0), ("dog", 20.0))  # confident at the default 70, not at 90


def stubbed_reader(engine, *answers) -> ParameterReader:
    """A reader whose SSM client answers GetParametersByPath with ``answers`` in turn: a dict of
    values, or an error code."""
    ssm = boto3.client("ssm", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(ssm)
    for answer in answers:
        if isinstance(answer, str):
            stubber.add_client_error("get_parameters_by_path", service_error_code=answer, http_status_code=400)
        else:
            stubber.add_response("get_parameters_by_path", {"Parameters": [
                {"Name": PATH + name, "Type": "String", "Value": value} for name, value in answer.items()]})
    stubber.activate()
    return ParameterReader(engine.catalog, PATH, 0, provider=SSMProvider(boto3_client=ssm))


def test_a_warm_container_keeps_its_last_good_settings_through_a_throttled_read(engine, caplog):
    reader = stubbed_reader(engine, {MIN_CONFIDENCE: "90"}, "ThrottlingException", {MIN_CONFIDENCE: "85"})
    assert reader.settings()[MIN_CONFIDENCE] == 90.0
    with caplog.at_level(logging.WARNING, logger="handlers.runtime.settings"):
        assert reader.settings()[MIN_CONFIDENCE] == 90.0  # the last good value, not the default 70
    assert "ThrottlingException" in caplog.text and "last good" in caplog.text  # not silent
    assert reader.settings()[MIN_CONFIDENCE] == 85.0  # the next read is a read again


@pytest.mark.parametrize("code", ["ThrottlingException", "InternalServerError"])
def test_a_fresh_container_raises_a_throttled_read_under_a_name_the_retry_rules_match(engine, code):
    reader = stubbed_reader(engine, code)
    with pytest.raises(errors.AwsError) as raised:
        reader.settings()
    assert type(raised.value).__name__ == code and code in errors.RETRY_ERROR_NAMES
    assert isinstance(raised.value.__cause__.__context__, ClientError)


def test_a_refused_read_is_final_even_in_a_warm_container(engine):
    reader = stubbed_reader(engine, {MIN_CONFIDENCE: "90"}, "AccessDeniedException")
    reader.settings()
    with pytest.raises(errors.AwsError) as raised:
        reader.settings()
    assert type(raised.value).__name__ == "AccessDeniedException"
    assert "AccessDeniedException" not in errors.RETRY_ERROR_NAMES


class ThrottledReads:
    """Parameter reads (the whole path, or some by name: the detection's) refused for throttling ``times``
    times (after the client's own retries)."""

    def __init__(self, times: int = 1):
        self.times, self.refused = times, 0
        for operation in ("GetParametersByPath", "GetParameters"):
            aws.client("ssm").meta.events.register(f"before-call.ssm.{operation}", self)

    def __call__(self, model, **_):
        if self.refused < self.times:
            self.refused += 1
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, model.name)


@pytest.fixture
def st(stack):
    stack.configure(parameter_ttl_seconds=0)  # every invocation reads Parameter Store again
    return stack


def test_a_throttled_read_in_a_fresh_container_is_retried_by_the_state_machine(st):
    set_parameters(st, **{MIN_CONFIDENCE: "90"})  # and a fresh container
    throttled = ThrottledReads()
    execution = upload(st, "images_for_detection/faults/fresh.png", EIGHTY)
    assert throttled.refused == 1
    assert execution["status"] == "SUCCEEDED", execution
    assert len(st.retry_sleeps) == 1
    assert detection_result(execution)["outcome"] == "to_training"  # 90 was used, not the default 70


def test_a_throttled_read_in_a_warm_container_uses_the_last_good_settings(st):
    set_parameters(st, **{MIN_CONFIDENCE: "90"})
    assert detection_result(upload(st, "images_for_detection/faults/warm-1.png", EIGHTY))["outcome"] == "to_training"
    throttled = ThrottledReads()
    execution = upload(st, "images_for_detection/faults/warm-2.png", EIGHTY)
    assert throttled.refused == 1
    assert execution["status"] == "SUCCEEDED" and st.retry_sleeps == []
    assert detection_result(execution)["outcome"] == "to_training"


def test_a_throttled_read_does_not_fail_a_lifecycle_run():
    with lifecycle_stack() as stack:
        context.reset()
        throttled = ThrottledReads()
        deploy_first(stack)  # the training check reads the parameters first
        assert throttled.refused == 1
        assert loop().active_version == "v1"


# -- a deleted parameter ---------------------------------------------------------------------

def test_a_deleted_parameter_is_its_default_in_warm_and_fresh_containers_alike(caplog):
    with local_stack() as st:
        set_parameters(st, **{MIN_CONFIDENCE: "90"})
        catalog, path = st.engine.catalog, st.parameter_path
        warm = ParameterReader(catalog, path, 0)
        assert warm.settings()[MIN_CONFIDENCE] == 90.0
        st.client("ssm").delete_parameter(Name=path + MIN_CONFIDENCE)
        cold = ParameterReader(catalog, path, 0)
        default = catalog[MIN_CONFIDENCE].default
        with caplog.at_level(logging.WARNING, logger="handlers.runtime.settings"):
            assert warm.settings()[MIN_CONFIDENCE] == default  # not the 90 it read before
            assert cold.settings()[MIN_CONFIDENCE] == default
            for _ in range(3):
                warm.settings()
        reports = [r for r in caplog.records if MIN_CONFIDENCE in r.getMessage()]
        assert len(reports) == 2  # once per container, not once per read
        assert warm.problems == [] and cold.problems == []  # missing is not invalid: no alert


def test_a_deleted_parameter_reaches_a_running_detection_as_its_default(st):
    set_parameters(st, **{MIN_CONFIDENCE: "90"})
    assert detection_result(upload(st, "images_for_detection/faults/kept.png", EIGHTY))["outcome"] == "to_training"
    st.client("ssm").delete_parameter(Name=st.parameter_path + MIN_CONFIDENCE)
    assert detection_result(upload(st, "images_for_detection/faults/warm.png", EIGHTY))["outcome"] == "confident"
    context.reset()
    assert detection_result(upload(st, "images_for_detection/faults/cold.png", EIGHTY))["outcome"] == "confident"
    assert st.notifications() == []
