"""Operator switches bind every policy: with human review, audit sampling or automatic training off,
no policy — the defaults, a shipped alternative or a team's own that never reads the parameter —
opens a review or starts a scheduled training. The engine enforces it and records the switch as the
deciding policy, with the policy it overruled and that policy's reason."""

from __future__ import annotations

import json

import pytest
from cli_support import cli_json
from lifecycle_support import lifecycle_stack, loop, seed
from stack_support import (CONFIDENT, UNSURE, activate_model, detection_result, local_stack, loops_for, record_of,
                           set_parameters, upload)

from handlers.runtime import context
from handlers.runtime.workflow import lifecycle_input
from plugins import Engine, PolicyLoadError
from plugins.testing import dataset, detection, evaluation, model, policy_engine, review
from policies.names import ENABLE_REVIEW, ENABLE_SAMPLING, ENABLE_TRAINING, SAMPLING_INTERVAL

# A team policy that opens a review for every image and trains on every check, reading no switch.
EAGER = '''
from plugins import ReviewDecision, TrainingDecision, hookimpl

@hookimpl
def review_decision(detection):
    if detection.top_confidence >= 90:
        return ReviewDecision(True, "acme audits every confident answer", "audit")
    return ReviewDecision(True, "acme reviews every unsure image", "training")

@hookimpl
def training_decision(dataset):
    return TrainingDecision(True, f"acme trains on every check ({dataset.new_total} new)")
'''
UNSURE_SCORES = dict(UNSURE)
CONFIDENT_SCORES = dict(CONFIDENT)


@pytest.fixture
def eager(write_module):
    return write_module("acme_eager", EAGER)


# -- the engine ------------------------------------------------------------------------------------

@pytest.mark.parametrize("parameters, scores, switch, asked", [
    ({ENABLE_REVIEW: False}, UNSURE_SCORES, ENABLE_REVIEW, "acme reviews every unsure image"),
    ({ENABLE_REVIEW: False, ENABLE_SAMPLING: True}, CONFIDENT_SCORES, ENABLE_REVIEW,  # audits too
     "acme audits every confident answer"),
    ({ENABLE_SAMPLING: False}, CONFIDENT_SCORES, ENABLE_SAMPLING, "acme audits every confident answer"),
])
def test_a_switch_that_is_off_refuses_a_team_review_naming_itself_and_the_policy(eager, parameters, scores, switch,
                                                                                  asked):
    engine, settings = policy_engine(eager, **parameters)
    decision = engine.review(detection(scores), settings)
    assert decision.review is False and decision.policy == switch
    assert decision.reason == f"{switch} is false: no review (policy 'acme_eager' asked for one: {asked})"


def test_switches_that_are_on_or_bind_another_purpose_leave_the_decision_to_the_policies(eager):
    engine, settings = policy_engine(eager, **{ENABLE_SAMPLING: True})
    assert engine.review(detection(UNSURE_SCORES), settings).policy == "acme_eager"
    assert engine.review(detection(CONFIDENT_SCORES), settings).purpose == "audit"
    engine, settings = policy_engine(eager)  # sampling off (the default) binds audits only
    training = engine.review(detection(UNSURE_SCORES), settings)
    assert training.review and training.purpose == "training" and training.policy == "acme_eager"


def test_the_defaults_are_bound_the_same_way_and_their_reason_kept():
    engine, settings = policy_engine(**{ENABLE_REVIEW: False, ENABLE_SAMPLING: True, SAMPLING_INTERVAL: 1})
    unsure = engine.review(detection({"cat": 10.0}), settings)
    assert unsure.policy == ENABLE_REVIEW
    assert "(policy 'policies.defaults' asked for one: top label 'cat'" in unsure.reason
    audit = engine.review(detection(CONFIDENT_SCORES), settings)
    assert audit.review is False and audit.policy == ENABLE_REVIEW and "audit sample" in audit.reason


def test_training_off_refuses_a_scheduled_check_but_not_an_operator_request(eager):
    engine, settings = policy_engine(eager, **{ENABLE_TRAINING: False})
    facts = dataset(new={"cat": 3}), model()
    scheduled = engine.training(*facts, settings)
    assert scheduled.train is False and scheduled.policy == ENABLE_TRAINING
    assert scheduled.reason == ("Enable-Automatic-Training is false: no training (policy 'acme_eager' asked for one: "
                                "acme trains on every check (3 new))")
    requested = engine.training(*facts, settings, requested=True)
    assert requested.train and requested.policy == "acme_eager"


def test_a_team_declares_its_own_switch_in_its_catalog_entry(write_module):
    name = write_module("acme_freeze", '''
from plugins import ParameterSpec, Switch, hookimpl

@hookimpl
def labelloop_parameters():
    return [ParameterSpec("Acme-Enable-Deployments", "bool", True, "Deployments on or off.",
                          binds=Switch("deployment_decision")),
            ParameterSpec("Acme-Enable-Learning", "bool", True, "Answers into the training data on or off.",
                          binds=Switch("label_decision"))]
''')
    engine, settings = policy_engine(name, Acme_Enable_Deployments=False)
    refused = engine.deployment(evaluation(0.95), None, settings)
    assert refused.deploy is False and refused.policy == "Acme-Enable-Deployments"
    assert refused.reason == ("Acme-Enable-Deployments is false: no deployment (policy 'policies.defaults' asked for "
                              "one: F1 0.950 meets Minimum-F1-Score 0.8)")
    assert engine.label(review("cat"), settings).accept  # a switch binds only the decision it names
    engine, settings = policy_engine(name, Acme_Enable_Learning=False)
    kept_out = engine.label(review("cat"), settings)
    assert kept_out.accept is False and kept_out.policy == "Acme-Enable-Learning"
    assert "policy 'policies.defaults' accepted it: reviewer labelled it 'cat'" in kept_out.reason
    assert engine.deployment(evaluation(0.95), None, settings).deploy


@pytest.mark.parametrize("spec, message", [
    ('ParameterSpec("Acme-Level", "int", 1, "A level.", 0, 9, binds=Switch("review_decision"))',
     "Acme-Level: only a bool parameter is a switch"),
    ('ParameterSpec("Acme-On", "bool", True, "On.", binds=Switch("serving_decision"))',
     "a switch binds one of review_decision, training_decision, deployment_decision, label_decision"),
    ('ParameterSpec("Acme-On", "bool", True, "On.", binds=Switch("training_decision", purpose="audit"))',
     "only a review switch is limited to a purpose"),
])
def test_a_switch_that_cannot_bind_is_a_load_error_naming_the_policy(write_module, spec, message):
    name = write_module("acme_bad_switch", f'''
from plugins import ParameterSpec, Switch, hookimpl

@hookimpl
def labelloop_parameters():
    return [{spec}]
''')
    with pytest.raises(PolicyLoadError) as error:
        Engine.load([name], entry_points=False)
    assert "acme_bad_switch" in str(error.value) and message in str(error.value)


# -- the real handlers, in a stack -------------------------------------------------------------------

def test_review_off_opens_no_review_through_the_detection_handler_and_backtest_agrees(capsys, eager):
    with local_stack(policies=(eager,)) as st:
        activate_model()
        set_parameters(st, **{ENABLE_REVIEW: "false", ENABLE_SAMPLING: "true"})
        for key, scores in (("images_for_detection/unsure.png", UNSURE), ("images_for_detection/sure.png", CONFIDENT)):
            result = detection_result(upload(st, key, scores))
            assert result["review"] is False and loops_for(st, result["detection_id"]) == []
            record = record_of(st, key)
            assert record.decision["policy"] == ENABLE_REVIEW
            assert record.reason.startswith("Enable-A2I-Workflow is false: no review (policy 'acme_eager' asked")
        assert context.table().loop().open_reviews == 0
        # Replayed through the same engine with the stack's parameters: what the stack did.
        result = cli_json(capsys, "backtest", "--policies", eager, "--parameter-path", st.parameter_path,
                          "--table", st.table)
        stack_did, replayed = result["columns"]
        assert stack_did["reviews"] == replayed["reviews"] == 0
        assert stack_did["refused_by_switch"] == replayed["refused_by_switch"] == {ENABLE_REVIEW: 2}
        set_parameters(st, **{ENABLE_REVIEW: "true", ENABLE_SAMPLING: "false"})
        audit = detection_result(upload(st, "images_for_detection/sure-2.png", CONFIDENT))
        assert audit["review"] is False and record_of(st, "images_for_detection/sure-2.png").decision["policy"] == \
            ENABLE_SAMPLING
        opened = detection_result(upload(st, "images_for_detection/unsure-2.png", UNSURE))
        assert opened["review"] is True and len(loops_for(st, opened["detection_id"])) == 1


def test_training_off_trains_on_no_scheduled_check_but_on_an_operator_request(eager):
    with lifecycle_stack(policies=(eager,)) as stack:
        seed(stack, {"cat": 6, "dog": 6})
        set_parameters(stack, **{ENABLE_TRAINING: "false"})
        assert stack.run_lifecycle()["status"] == "SUCCEEDED"
        decision = loop().last_training_decision
        assert decision["train"] is False and decision["policy"] == ENABLE_TRAINING
        assert "(policy 'acme_eager' asked for one: acme trains on every check (12 new))" in decision["reason"]
        assert stack.models.operations("CreateProjectVersion") == []
        assert stack.run_lifecycle(lifecycle_input("manual"))["status"] == "SUCCEEDED"
        decision = loop().last_training_decision
        assert decision["train"] is True and decision["policy"] == "acme_eager" and decision["trigger"] == "manual"
        assert len(stack.models.operations("CreateProjectVersion")) == 1


# -- backtest -------------------------------------------------------------------------------------

def recorded(n: int, scores) -> dict:
    return {"detection_id": f"d{n}", "image_uri": f"s3://b/images_for_detection/{n}.png",
            "detected_at": f"2026-01-01T00:{n:02d}:00Z", "model_version": "v1",
            "labels": [{"name": k, "confidence": v} for k, v in scores]}


def test_backtest_replays_the_switches_as_the_stack_does(capsys, eager, tmp_path):
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(recorded(n, UNSURE if n % 4 else CONFIDENT)) + "\n" for n in range(1, 14)))
    result = cli_json(capsys, "backtest", "--events", events, "--policies", eager,
                      "--param", f"{ENABLE_REVIEW}=false")
    [column] = result["columns"]
    assert column["reviews"] == 0
    assert column["refused_by_switch"] == {"Enable-A2I-Workflow": 13}
    result = cli_json(capsys, "backtest", "--events", events, "--policies", eager)
    [column] = result["columns"]  # review on, sampling off (the default): the three audits are refused
    assert column["reviews"] == 10 and column["by_purpose"]["audit"] == 0
    assert column["refused_by_switch"] == {"Enable-Automatic-Human-Sampling": 3}
