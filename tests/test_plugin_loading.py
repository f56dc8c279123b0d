"""Loading policies: order, composition, and every load error naming the module."""

import pytest

from factories import detection
from plugins import Engine, PolicyError, PolicyLoadError
from plugins import manager

VETO = '''
from plugins import ReviewDecision, hookimpl

@hookimpl
def review_decision(detection, settings):
    return ReviewDecision(False, "team says no")
'''

DEFER = '''
from plugins import hookimpl
calls = []

@hookimpl
def review_decision(detection):
    calls.append(detection.detection_id)
    return None
'''


def test_defaults_are_registered_trylast_and_named(engine):
    assert engine.policies == ["policies.defaults"]


def test_a_vetoing_team_plugin_overrides_the_default(write_module, settings):
    engine = Engine.load([write_module("team_veto", VETO)], entry_points=False)
    d = engine.review(detection(("cat", 1.0)), settings)
    assert (d.review, d.policy, d.reason) == (False, "team_veto", "team says no")
    assert engine.policies == ["team_veto", "policies.defaults"]


def test_a_deferring_team_plugin_leaves_the_default_in_charge(write_module, settings):
    name = write_module("team_defer", DEFER)
    engine = Engine.load([name], entry_points=False)
    d = engine.review(detection(("cat", 1.0)), settings)
    assert d.review and d.policy == "policies.defaults"
    import sys
    assert sys.modules[name].calls == ["d-1"]  # it was asked, with only the argument it declared


def test_modules_come_from_the_environment(write_module, monkeypatch, settings):
    monkeypatch.setenv("LABELLOOP_POLICIES", f" {write_module('team_env', VETO)} , ")
    engine = Engine.load(entry_points=False)
    assert engine.review(detection(("cat", 1.0)), settings).policy == "team_env"


def test_missing_module_names_it():
    with pytest.raises(PolicyLoadError, match="policy module 'team.nope' cannot be imported.*check the spelling"):
        Engine.load(["team.nope"], entry_points=False)


def test_module_importing_a_missing_dependency_says_so(write_module):
    name = write_module("team_dep", "import not_installed_anywhere\n")
    with pytest.raises(PolicyLoadError, match="it imports 'not_installed_anywhere', which is not installed"):
        Engine.load([name], entry_points=False)


def test_module_failing_at_import_names_it(write_module):
    name = write_module("team_boom", "raise RuntimeError('bad config')\n")
    with pytest.raises(PolicyLoadError, match="'team_boom' failed while importing: RuntimeError: bad config"):
        Engine.load([name], entry_points=False)


def test_hook_name_typo_is_a_load_error(write_module):
    name = write_module("team_typo", "from plugins import hookimpl\n@hookimpl\ndef review_decison(detection):\n    return None\n")
    with pytest.raises(PolicyLoadError, match="'team_typo' implements a hook that does not exist.*review_decison.*Known hooks:.*review_decision"):
        Engine.load([name], entry_points=False)


def test_wrong_argument_name_is_a_load_error(write_module):
    name = write_module("team_arg", "from plugins import hookimpl\n@hookimpl\ndef review_decision(detections):\n    return None\n")
    with pytest.raises(PolicyLoadError, match="'team_arg' does not match its hook specification.*detections"):
        Engine.load([name], entry_points=False)


def test_parameter_clash_is_a_load_error(write_module):
    name = write_module("team_clash", '''
from plugins import ParameterSpec, hookimpl
@hookimpl
def labelloop_parameters():
    return [ParameterSpec("Minimum-F1-Score", "float", 0.5, "mine", 0, 1)]
''')
    with pytest.raises(PolicyLoadError, match="defined by both policies.defaults and team_clash"):
        Engine.load([name], entry_points=False)


def test_replacing_defaults_requires_every_decision(write_module):
    name = write_module("team_partial", VETO)
    with pytest.raises(PolicyLoadError, match="no loaded policy implements training_decision"):
        Engine.load([name], replace_defaults=True, entry_points=False)


def test_replacing_defaults_via_environment(monkeypatch, write_module):
    monkeypatch.setenv("LABELLOOP_REPLACE_DEFAULTS", "true")
    with pytest.raises(PolicyLoadError, match="policies.defaults was replaced"):
        Engine.load([write_module("team_partial2", VETO)], entry_points=False)


def test_wrappers_on_decision_hooks_are_refused(write_module):
    name = write_module("team_wrap", '''
from plugins import hookimpl
@hookimpl(wrapper=True)
def review_decision(detection):
    return (yield)
''')
    with pytest.raises(PolicyLoadError, match="'team_wrap' wraps review_decision"):
        Engine.load([name], entry_points=False)


def test_a_policy_returning_the_wrong_type_is_named(write_module, settings):
    engine = Engine.load([write_module("team_bad", "from plugins import hookimpl\n@hookimpl\ndef review_decision():\n    return True\n")], entry_points=False)
    with pytest.raises(PolicyError, match="'team_bad' returned bool from review_decision; expected ReviewDecision"):
        engine.review(detection(("cat", 1.0)), settings)


def test_a_policy_raising_is_named(write_module, settings):
    engine = Engine.load([write_module("team_raise", "from plugins import hookimpl\n@hookimpl\ndef review_decision():\n    1/0\n")], entry_points=False)
    with pytest.raises(PolicyError, match="'team_raise' failed in review_decision: ZeroDivisionError"):
        engine.review(detection(("cat", 1.0)), settings)


def test_accepting_an_unknown_label_is_refused(write_module, settings):
    from plugins import ReviewResult, WorkerAnswer
    engine = Engine.load([write_module("team_label", '''
from plugins import LabelDecision, hookimpl
@hookimpl
def label_decision(review):
    return LabelDecision(True, "always horse", "horse")
''')], entry_points=False)
    review = ReviewResult("l", "d", "s3://b/k", "training", (WorkerAnswer("w", "cat"),), ("cat", "dog"))
    with pytest.raises(PolicyError, match="accepted label 'horse', which is not in the label set"):
        engine.label(review, settings)


class FakeEntryPoint:
    def __init__(self, name, value, target=None, error=None):
        self.name, self.value, self._target, self._error = name, value, target, error

    def load(self):
        if self._error:
            raise self._error
        return self._target


def test_entry_point_packages_load_and_can_be_limited(monkeypatch, write_module, settings):
    import importlib, importlib.metadata
    module = importlib.import_module(write_module("team_ep", VETO))
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [FakeEntryPoint("acme", "team_ep", module)])
    assert Engine.load([]).review(detection(("cat", 1.0)), settings).policy == "acme"
    monkeypatch.setenv(manager.ENTRY_POINTS_ENV, "someone-else")
    assert Engine.load([]).policies == ["policies.defaults"]
    monkeypatch.setenv(manager.ENTRY_POINTS_ENV, "acme")
    assert "acme" in Engine.load([]).policies


def test_broken_entry_point_names_it(monkeypatch):
    import importlib.metadata
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda group: [FakeEntryPoint("acme", "acme.policy", error=ImportError("no acme"))])
    with pytest.raises(PolicyLoadError, match="entry point 'acme' \\(acme.policy\\) failed to load: ImportError: no acme"):
        Engine.load([])


def test_hook_loop_event_reaches_every_observer_even_when_one_fails(write_module, caplog):
    from plugins import LoopEvent
    good = write_module("team_obs", "from plugins import hookimpl\nseen=[]\n@hookimpl\ndef loop_event(event):\n    seen.append(event.kind)\n")
    bad = write_module("team_obs_bad", "from plugins import hookimpl\n@hookimpl\ndef loop_event(event):\n    raise ValueError('observer down')\n")
    engine = Engine.load([good, bad], entry_points=False)
    engine.emit(LoopEvent("detection", "1 image"))
    import sys
    assert sys.modules[good].seen == ["detection"]
    assert "team_obs_bad" in caplog.text and "observer down" in caplog.text


def test_hook_labelloop_parameters_collects_every_plugin(write_module):
    name = write_module("team_params", '''
from plugins import ParameterSpec, hookimpl
@hookimpl
def labelloop_parameters():
    return [ParameterSpec("Team-Knob", "int", 3, "a team knob", 0, 10)]
''')
    engine = Engine.load([name], entry_points=False)
    assert engine.catalog["Team-Knob"].owner == name
    assert engine.catalog.defaults()["Team-Knob"] == 3 and "Minimum-F1-Score" in engine.catalog


def test_a_decision_without_a_reason_is_refused(write_module, settings):
    engine = Engine.load([write_module("team_mute", '''
from plugins import ReviewDecision, hookimpl
@hookimpl
def review_decision():
    return ReviewDecision(False, "   ")
''')], entry_points=False)
    with pytest.raises(PolicyError, match="'team_mute' returned a ReviewDecision without a reason"):
        engine.review(detection(("cat", 1.0)), settings)
