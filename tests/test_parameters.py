import re

import pytest

from plugins import Catalog, CatalogError, InvalidParameterValue, ParameterSpec
from policies.defaults import PARAMETERS
from policies import names

CATALOG = Catalog.merge([("policies.defaults", PARAMETERS)])


def test_catalog_has_the_nine_parameters_of_the_design_and_the_gate_sets_minimum():
    # The design's nine and the gate set's minimum, among however many parameters the catalog has.
    assert {s.name for s in CATALOG} >= {
        "Enable-Automatic-Training", "Automatic-Training-Poll-Frequency", "Minimum-Untrained-Images",
        "Minimum-F1-Score", "Minimum-Inference-Units", "Minimum-Label-Detection-Confidence",
        "Enable-A2I-Workflow", "Enable-Automatic-Human-Sampling", "Human-Sampling-Interval",
        "Minimum-Gate-Set-Images-Per-Label",
    }
    defaults = CATALOG.defaults()
    assert defaults[names.ENABLE_TRAINING] is True
    assert defaults[names.POLL_FREQUENCY] == 720
    assert defaults[names.MIN_UNTRAINED] == 10
    assert defaults[names.MIN_F1] == 0.8
    assert defaults[names.MIN_INFERENCE_UNITS] == 1
    assert defaults[names.MIN_CONFIDENCE] == 70.0
    assert defaults[names.ENABLE_REVIEW] is True
    assert defaults[names.ENABLE_SAMPLING] is False
    assert defaults[names.SAMPLING_INTERVAL] == 1000
    assert all(s.description for s in CATALOG)


@pytest.mark.parametrize("raw", ["true", "True", "TRUE", "1", "yes", "YES", " on ", "tRuE"])
def test_bool_true_spellings(raw):
    assert CATALOG[names.ENABLE_REVIEW].parse(raw) is True


@pytest.mark.parametrize("raw", ["false", "False", "FALSE", "0", "no", " off"])
def test_bool_false_spellings(raw):
    assert CATALOG[names.ENABLE_REVIEW].parse(raw) is False


@pytest.mark.parametrize("raw", ["", "abc", "truee", "2", "-1", "y es"])
def test_bool_rejects(raw):
    with pytest.raises(InvalidParameterValue) as err:
        CATALOG[names.ENABLE_REVIEW].parse(raw)
    assert "Enable-A2I-Workflow" in str(err.value) and repr(raw) in str(err.value)
    assert "true or false" in str(err.value)


@pytest.mark.parametrize("raw,value", [("10", 10), ("  250 ", 250), ("+7", 7), ("1000000", 1_000_000), ("1", 1)])
def test_int_parses(raw, value):
    assert CATALOG[names.MIN_UNTRAINED].parse(raw) == value


@pytest.mark.parametrize("raw", ["1,000", "abc", "", "1.5", "1e3", "0", "1000001", "-3", "10 0", "nan"])
def test_int_rejects_with_a_message_naming_parameter_value_and_range(raw):
    with pytest.raises(InvalidParameterValue) as err:
        CATALOG[names.MIN_UNTRAINED].parse(raw)
    message = str(err.value)
    assert message.startswith("Minimum-Untrained-Images:")
    assert repr(raw) in message
    assert "a whole number from 1 to 1000000" in message


@pytest.mark.parametrize("raw,value", [("0.8", 0.8), (" 1 ", 1.0), ("0", 0.0), (".5", 0.5), ("1.", 1.0)])
def test_float_parses(raw, value):
    assert CATALOG[names.MIN_F1].parse(raw) == value


@pytest.mark.parametrize("raw", ["abc", "1,5", "1.01", "-0.1", "inf", "nan", "0.8.1", ""])
def test_float_rejects(raw):
    with pytest.raises(InvalidParameterValue, match="a number from 0.0 to 1.0"):
        CATALOG[names.MIN_F1].parse(raw)


def test_format_is_the_inverse_of_parse():
    for spec in CATALOG:
        assert spec.parse(spec.format(spec.default)) == spec.default


def test_thresholds_kind():
    spec = ParameterSpec("T", "thresholds", {}, "per label", 0, 100)
    assert dict(spec.parse("none")) == {}
    assert dict(spec.parse(" cat = 80, dog=65.5 ")) == {"cat": 80.0, "dog": 65.5}
    for bad in ["cat", "cat=", "cat=abc", "cat=101", "cat=1,cat=2", "=5"]:
        with pytest.raises(InvalidParameterValue, match="label=confidence"):
            spec.parse(bad)
    assert spec.format({"cat": 80.0}) == "cat=80.0"
    pattern = re.compile(spec.allowed_pattern)
    assert pattern.match("none") and pattern.match("cat=80, dog=65.5") and not pattern.match("cat")


SAMPLES = ["0", "1", "5", "9", "10", "64", "65", "70", "70.5", "99.99", "100", "100.0", "100.01", "101",
           "720", "43200", "43201", "1000000", "1000001", "0.8", "1.0", "1.5", "-1", " 12 ", "+3", "abc",
           "1,000", "true", "True", "TRUE", "false", "yes", "no", "on", "0.", ".5", "007", "1e3", ""]


@pytest.mark.parametrize("spec", list(CATALOG), ids=lambda s: s.name)
def test_allowed_pattern_never_admits_a_value_the_parser_rejects(spec):
    # Parameter Store enforces the pattern, the handlers the parser: whatever
    # Parameter Store accepts must be usable by the loop.
    pattern = re.compile(spec.allowed_pattern)
    assert len(spec.allowed_pattern) <= 1024  # Parameter Store's limit for AllowedPattern
    for raw in SAMPLES + [spec.format(spec.default)]:
        if pattern.match(raw):
            spec.parse(raw)


@pytest.mark.parametrize("spec", [s for s in CATALOG if s.kind != "thresholds"], ids=lambda s: s.name)
def test_allowed_pattern_admits_every_canonical_value(spec):
    pattern = re.compile(spec.allowed_pattern)
    assert pattern.match(spec.format(spec.default))
    if spec.kind == "int":
        for n in range(int(spec.minimum), int(min(spec.maximum, spec.minimum + 2000)) + 1):
            assert pattern.match(str(n))
        assert pattern.match(str(int(spec.maximum))) and not pattern.match(str(int(spec.maximum) + 1))
        assert not pattern.match(str(int(spec.minimum) - 1)) or spec.minimum == 0
    if spec.kind == "float":
        assert pattern.match(spec.format(spec.maximum)) and pattern.match(spec.format(spec.minimum))
        assert not pattern.match(str(spec.maximum + 1))


@pytest.mark.parametrize("lo,hi", [(0, 0), (0, 9), (1, 64), (7, 1234), (10, 99), (123, 98765), (0, 100)])
def test_int_range_regex_is_exact(lo, hi):
    pattern = re.compile(ParameterSpec("Whole", "int", lo, "a whole number", lo, hi).allowed_pattern)
    for n in range(0, max(hi * 2, 200)):
        assert bool(pattern.match(str(n))) == (lo <= n <= hi), n


def test_plugin_parameters_merge_and_clash():
    extra = ParameterSpec("Team-Knob", "int", 3, "a team knob", 0, 10)
    merged = Catalog.merge([("policies.defaults", PARAMETERS), ("team.policy", [extra])])
    assert merged["Team-Knob"].owner == "team.policy" and len(merged) == len(PARAMETERS) + 1
    clash = ParameterSpec("Minimum-F1-Score", "float", 0.5, "again", 0, 1)
    with pytest.raises(CatalogError, match="'Minimum-F1-Score' is defined by both policies.defaults and team.policy"):
        Catalog.merge([("policies.defaults", PARAMETERS), ("team.policy", [clash])])


def test_invalid_specs_are_refused():
    with pytest.raises(CatalogError, match="default is invalid"):
        ParameterSpec("X", "int", 50, "d", 0, 10)
    with pytest.raises(CatalogError, match="needs a minimum and a maximum"):
        ParameterSpec("X", "int", 1, "d")
    with pytest.raises(CatalogError, match="parameter name"):
        ParameterSpec("bad name/with slash", "bool", True, "d")


def test_read_falls_back_to_last_good_value_and_reports():
    good = CATALOG.defaults().replace(**{names.MIN_UNTRAINED: 25})
    settings, problems = CATALOG.read({names.MIN_UNTRAINED: "abc", names.MIN_F1: "0.9"}, fallback=good)
    assert settings[names.MIN_UNTRAINED] == 25
    assert settings[names.MIN_F1] == 0.9
    assert [p.name for p in problems] == [names.MIN_UNTRAINED]
    settings, _ = CATALOG.read({names.MIN_UNTRAINED: "abc"})
    assert settings[names.MIN_UNTRAINED] == 10


def test_stack_overrides_are_validated():
    assert CATALOG.defaults({names.MIN_F1: 0.9})[names.MIN_F1] == 0.9
    assert CATALOG.defaults({names.ENABLE_REVIEW: "no"})[names.ENABLE_REVIEW] is False
    with pytest.raises(InvalidParameterValue):
        CATALOG.defaults({names.MIN_F1: 2})
    with pytest.raises(KeyError, match="unknown parameter 'Nope'"):
        CATALOG.defaults({"Nope": 1})


def test_the_detection_reads_only_the_review_decisions_parameters_and_every_review_policy_finds_them():
    from plugins import Detection, Engine

    review_policies = ["policies.margin", "policies.entropy", "policies.class_balance", "policies.random_review",
                       "policies.uncertainty", "policies.review_budget", "policies.champion_challenger",
                       "policies.gate_set"]
    for module in review_policies:
        engine = Engine.load([module], entry_points=False)
        scope = engine.catalog.scope("review_decision")
        assert len(scope) <= 10, (module, list(scope.specs))  # one GetParameters call
        assert "Minimum-F1-Score" not in scope and "Idle-Stop-Minutes" not in scope
        settings = scope.defaults()  # holds only the scope's: a policy reading another parameter raises
        for scores in ({"cat": 55.0, "dog": 45.0}, {"cat": 99.0, "dog": 1.0}, {}):
            engine.review(Detection("d" * 40, "s3://b/k.png", "v1", scores), settings)


def test_a_per_label_value_names_only_labels_of_the_label_set_and_a_typo_gets_the_closest():
    from policies.uncertainty import THRESHOLDS, labelloop_parameters

    spec = next(s for s in labelloop_parameters() if s.name == THRESHOLDS)
    labels = ("digit-1", "digit-7")
    spec.check_labels(spec.parse("digit-7=90, digit-1=50"), labels)  # every label known: no error
    spec.check_labels(spec.parse("digt-7=100"), ())  # the label set unknown: nothing to check against
    with pytest.raises(InvalidParameterValue) as err:
        spec.check_labels(spec.parse("digit-1=50, digt-7=100"), labels)
    assert str(err.value) == ("Label-Confidence-Thresholds: 'digit-1=50.0, digt-7=100.0' is not allowed; expected "
                              "labels of the label set ('digt-7' is not one; did you mean 'digit-7'? the labels: "
                              "digit-1, digit-7)")
    with pytest.raises(InvalidParameterValue, match="'zebra' is not one; the labels"):
        spec.check_labels(spec.parse("zebra=80"), labels)
    CATALOG[names.MIN_F1].check_labels(0.8, labels)  # not per label: nothing to check
