"""Operator parameters as the handlers read them: one call per TTL, validated;
an invalid value falls back to the last good value (or the default), is alerted
once and never crashes a detection."""

import re

import pytest
import state_support
from stack_support import (
    activate_model,
    detection_result,
    local_stack,
    set_parameters,
    upload,
)

from handlers.runtime import aws, context
from handlers.runtime.settings import ParameterReader
from policies.names import (
    ENABLE_REVIEW,
    ENABLE_SAMPLING,
    MIN_CONFIDENCE,
    SAMPLING_INTERVAL,
)

EIGHTY = (("cat", 80.0), ("dog", 20.0))  # confident at the default 70, not at 90
SIXTY = (("cat", 60.0), ("dog", 40.0))


@pytest.fixture
def st():
    with local_stack() as st:
        activate_model()
        st.configure(parameter_ttl_seconds=0)  # every invocation reads Parameter Store again
        yield st


def force(st, name: str, value: str) -> None:
    """Store a value however invalid (Parameter Store's AllowedPattern would refuse it; moto does not)."""
    ssm, full = st.client("ssm"), st.parameter_path + name
    ssm.delete_parameter(Name=full)
    ssm.put_parameter(Name=full, Value=value, Type="String")


def detect(st, scores, name=None):
    detect.n = getattr(detect, "n", 0) + 1
    execution = upload(st, f"images_for_detection/params/{name or detect.n}.png", scores)
    assert execution["status"] == "SUCCEEDED", execution
    return detection_result(execution)["outcome"]


def test_parameters_are_created_with_the_catalog_pattern(st):
    spec = st.engine.catalog[MIN_CONFIDENCE]
    [stored] = st.client("ssm").describe_parameters(
        ParameterFilters=[{"Key": "Name", "Values": [st.parameter_path + MIN_CONFIDENCE]}])["Parameters"]
    assert stored["AllowedPattern"] == spec.allowed_pattern
    pattern = re.compile(stored["AllowedPattern"])
    assert pattern.fullmatch("85.5") and pattern.fullmatch("100")
    assert not pattern.fullmatch("abc") and not pattern.fullmatch("150")  # Parameter Store refuses these
    # moto does not enforce AllowedPattern: the invalid value is stored, and the handlers must cope
    st.client("ssm").put_parameter(Name=st.parameter_path + MIN_CONFIDENCE, Value="abc", Type="String",
                                   Overwrite=True)
    assert st.client("ssm").get_parameter(Name=st.parameter_path + MIN_CONFIDENCE)["Parameter"]["Value"] == "abc"
    assert detect(st, EIGHTY) == "confident"  # the default 70 stood in


def test_invalid_value_falls_back_to_the_last_good_value_and_alerts_once(st):
    set_parameters(st, **{MIN_CONFIDENCE: "90"})
    assert detect(st, EIGHTY) == "to_training"
    force(st, MIN_CONFIDENCE, "abc")
    outcomes = [detect(st, EIGHTY) for _ in range(4)]
    assert outcomes == ["to_training"] * 4  # 90, the last good value; the default 70 would say confident
    [message] = st.notifications()
    assert MIN_CONFIDENCE in message["subject"] and re.search(r"value +abc\n", message["message"])
    assert "labelloop params set" in message["message"]
    [alert] = state_support.partition(f"ALERT#{MIN_CONFIDENCE}")
    assert alert["sk"] == "abc" and "not allowed" in alert["message"]

    context.reset()  # a new container knows no last good value: the default; still no second alert
    assert detect(st, EIGHTY) == "confident"
    assert st.notifications() == []

    set_parameters(st, **{MIN_CONFIDENCE: "60"})  # fixed by the operator
    assert detect(st, SIXTY) == "confident"
    assert st.notifications() == []


def test_every_new_invalid_value_is_alerted_once(st):
    force(st, MIN_CONFIDENCE, "abc")
    detect(st, EIGHTY)
    force(st, MIN_CONFIDENCE, "150")  # out of bounds
    detect(st, EIGHTY)
    detect(st, EIGHTY)
    messages = st.notifications()
    assert len(messages) == 2
    assert re.search(r"value +abc\n", messages[0]["message"])
    assert re.search(r"value +150\n", messages[1]["message"])


def test_invalid_value_on_first_read_uses_the_default(st):
    force(st, MIN_CONFIDENCE, "seventy")
    context.reset()
    assert detect(st, EIGHTY) == "confident"
    assert detect(st, SIXTY) == "to_training"
    assert len(st.notifications()) == 1


def test_invalid_values_never_crash(st):
    for name, value, scores, outcome in [
        (ENABLE_REVIEW, "maybe", SIXTY, "to_training"),  # default: review on
        (MIN_CONFIDENCE, "-5", SIXTY, "to_training"),
        (MIN_CONFIDENCE, " ", SIXTY, "to_training"),
        (MIN_CONFIDENCE, "nan", SIXTY, "to_training"),
    ]:
        force(st, name, value)
        assert detect(st, scores) == outcome, (name, value)
        assert len(st.notifications()) == 1, (name, value)
        force(st, name, "70" if name == MIN_CONFIDENCE else "true")


def test_zero_sampling_interval_is_refused_not_divided_by(st):
    set_parameters(st, **{ENABLE_SAMPLING: "true"})
    force(st, SAMPLING_INTERVAL, "0")
    assert detect(st, EIGHTY) == "confident"  # default interval 1000: this detection is not sampled
    [message] = st.notifications()
    assert SAMPLING_INTERVAL in message["subject"]


def test_boolean_spellings(st):
    for value, review in [("false", False), ("False", False), ("FALSE", False), ("TRUE", True), ("True", True),
                          ("true", True)]:
        set_parameters(st, **{ENABLE_REVIEW: value})
        assert detect(st, SIXTY) == ("to_training" if review else "confident"), value
    assert st.notifications() == []


def test_missing_parameter_uses_the_default_without_alert(st):
    st.client("ssm").delete_parameter(Name=st.parameter_path + ENABLE_REVIEW)
    context.reset()
    assert detect(st, SIXTY) == "to_training"
    assert st.notifications() == []


def test_one_parameter_read_per_ttl():
    """With the default TTL every detection after the first uses the cached parameters: one read of
    the review decision's parameters, by name (GetParameters: one call for up to ten), where the whole
    path would take a call per ten parameters (GetParametersByPath)."""
    with local_stack() as st:
        activate_model()
        reads = []
        for operation in ("GetParametersByPath", "GetParameters"):
            aws.client("ssm").meta.events.register(f"before-call.ssm.{operation}",
                                                   lambda model, **kw: reads.append(model.name))
        assert len(context.engine().catalog) > 10  # the whole path: two pages
        for i in range(4):
            detect(st, EIGHTY, f"ttl-{i}")
        assert reads == ["GetParameters"]
        st.client("ssm").put_parameter(Name=st.parameter_path + MIN_CONFIDENCE, Value="90", Type="String",
                                       Overwrite=True)
        assert detect(st, EIGHTY, "ttl-cached") == "confident"  # within the TTL the old value stands
        context.decision_parameters("review_decision").provider.clear_cache()
        assert detect(st, EIGHTY, "ttl-expired") == "to_training"
        assert reads == ["GetParameters"] * 2


class StubProvider:
    """Parameter Store as Powertools' provider returns it: name → raw string."""

    def __init__(self, values):
        self.values, self.reads = dict(values), 0

    def get_multiple(self, path, max_age, recursive):
        self.reads += 1
        return dict(self.values)


def test_reader_reports_a_bad_value_once_and_keeps_the_last_good_one(engine):
    problems = []
    store = StubProvider({MIN_CONFIDENCE: "85"})
    reader = ParameterReader(engine.catalog, "/labelloop/t/", 0, problems.append, provider=store)
    assert reader.settings()[MIN_CONFIDENCE] == 85.0
    store.values[MIN_CONFIDENCE] = "abc"
    for _ in range(3):
        assert reader.settings()[MIN_CONFIDENCE] == 85.0
    assert [p.value for p in problems] == ["abc"]
    store.values[MIN_CONFIDENCE] = "101"
    assert reader.settings()[MIN_CONFIDENCE] == 85.0
    assert [p.value for p in problems] == ["abc", "101"]
    assert store.reads == 5
