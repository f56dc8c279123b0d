"""The default policy at its boundaries: exactly the original sample's behaviour."""

from dataclasses import replace

import pytest

from factories import detection
from plugins import (REVIEWERS_PER_IMAGE, DatasetStats, Engine, Evaluation, LabelDecision, ModelState, ReviewDecision,
                     ReviewResult, WorkerAnswer)
from policies import names


def with_(settings, **values):
    return settings.replace(**values)


# -- review_decision ------------------------------------------------------------
def test_hook_review_decision_below_threshold_goes_to_training_review(engine, settings):
    d = engine.review(detection(("cat", 69.9), ("dog", 30.1)), settings)
    assert (d.review, d.purpose, d.policy) == (True, "training", "policies.defaults")
    assert "'cat' at 69.9 is below Minimum-Label-Detection-Confidence 70" in d.reason


def test_hook_review_decision_serves_the_least_confident_first_to_the_configured_reviewers(engine, settings):
    unsure, very_unsure = (engine.review(detection(("cat", c)), settings) for c in (60.0, 20.5))
    assert (unsure.priority, very_unsure.priority) == (40.0, 79.5)
    assert engine.review(detection(), settings).priority == 100.0  # no label at all: the most urgent
    assert unsure.reviewers == 1
    assert engine.review(detection(("cat", 60.0)), with_(settings, **{REVIEWERS_PER_IMAGE: 2})).reviewers == 2
    assert engine.review(detection(("cat", 99.0)), settings).priority is None  # no review


def test_a_policys_priority_and_reviewers_stand(engine, write_module):
    name = write_module("urgent_cats", """
from plugins import ReviewDecision, hookimpl

@hookimpl
def review_decision(detection, settings):
    return ReviewDecision(True, "cats are urgent", "training", priority=95, reviewers=3)
""")
    team = Engine.load([name], entry_points=False)
    d = team.review(detection(("cat", 99.0)), team.catalog.defaults())
    assert (d.priority, d.reviewers, d.policy) == (95, 3, "urgent_cats")
    with pytest.raises(ValueError):
        ReviewDecision(True, "too urgent", "training", priority=101)
    with pytest.raises(ValueError):
        ReviewDecision(True, "nobody", "training", reviewers=0)


def test_review_confidence_equal_to_threshold_is_not_reviewed(engine, settings):
    d = engine.review(detection(("cat", 70.0), ("dog", 30.0)), settings)
    assert d.review is False and "meets" in d.reason


def test_review_zero_labels_is_reviewed_for_training(engine, settings):
    d = engine.review(detection(), settings)
    assert d.review and d.purpose == "training" and "no label returned" in d.reason


def test_review_off_means_no_review_even_when_unsure(engine, settings):
    d = engine.review(detection(("cat", 10.0)), with_(settings, **{names.ENABLE_REVIEW: False}))
    assert d.review is False and d.policy == names.ENABLE_REVIEW
    assert d.reason.startswith("Enable-A2I-Workflow is false: no review (policy 'policies.defaults' asked for one")


def test_review_uses_the_top_label_whatever_the_order_given(engine, settings):
    d = engine.review(detection(("dog", 20.0), ("cat", 80.0)), settings)
    assert d.review is False


def test_audit_sampling_is_one_in_every_n_in_expectation_and_fixed_by_the_image(engine, settings):
    s = with_(settings, **{names.ENABLE_SAMPLING: True, names.SAMPLING_INTERVAL: 10})
    ids = [f"{n:040x}" for n in range(5000)]
    picked = [i for i in ids if engine.review(detection(("cat", 99.0), detection_id=i), s).review]
    assert 0.085 < len(picked) / len(ids) < 0.115  # 500 expected; 3 standard deviations is ±64
    again = [i for i in ids[:500] if engine.review(detection(("cat", 99.0), detection_id=i), s).review]
    assert again == [i for i in picked if i in ids[:500]]  # a duplicate, a retry or a backtest draws the same
    d = engine.review(detection(("cat", 99.0), detection_id=picked[0]), s)
    assert d.purpose == "audit" and "one in every 10" in d.reason


def test_audit_interval_one_samples_every_confident_detection(engine, settings):
    s = with_(settings, **{names.ENABLE_SAMPLING: True, names.SAMPLING_INTERVAL: 1})
    assert all(engine.review(detection(("cat", 99.0), detection_id=f"d{n}"), s).purpose == "audit" for n in range(5))


def test_low_confidence_wins_over_audit(engine, settings):
    s = with_(settings, **{names.ENABLE_SAMPLING: True, names.SAMPLING_INTERVAL: 1})
    assert engine.review(detection(("cat", 10.0)), s).purpose == "training"


def test_sampling_off_never_audits(engine, settings):
    s = with_(settings, **{names.SAMPLING_INTERVAL: 1})
    assert not any(engine.review(detection(("cat", 99.0), detection_id=f"d{n}"), s).review for n in range(20))


# -- training_decision ----------------------------------------------------------
def dataset(new: int) -> DatasetStats:
    return DatasetStats({"cat": 50, "dog": 50}, {"cat": new}, ("cat", "dog"))


def test_hook_training_decision_new_images_equal_to_minimum_trains(engine, settings):
    d = engine.training(dataset(10), ModelState("v1"), settings)
    assert d.train and d.policy == "policies.defaults" and "10 new labelled images" in d.reason


def test_training_one_below_minimum_does_not_train(engine, settings):
    d = engine.training(dataset(9), ModelState("v1"), settings)
    assert not d.train and "Minimum-Untrained-Images is 10" in d.reason


def test_training_toggle_off_binds_the_schedule_not_an_operator_request(engine, settings):
    off = with_(settings, **{names.ENABLE_TRAINING: False})
    d = engine.training(dataset(100), ModelState("v1"), off)
    assert not d.train and d.policy == names.ENABLE_TRAINING
    assert d.reason.startswith("Enable-Automatic-Training is false: no training (policy 'policies.defaults' asked")
    assert engine.training(dataset(100), ModelState("v1"), off, requested=True).train
    assert not engine.training(dataset(9), ModelState("v1"), off, requested=True).train  # the policies still decide


def test_training_in_progress_blocks(engine, settings):
    d = engine.training(dataset(100), ModelState("v1", training_in_progress=True, training_version="v2"), settings)
    assert not d.train and "v2 is already in progress" in d.reason


# -- deployment_decision / inference_capacity -----------------------------------
def test_hook_deployment_decision_f1_equal_to_minimum_deploys(engine, settings):
    d = engine.deployment(Evaluation("v2", 0.8), None, settings)
    assert d.deploy and "meets Minimum-F1-Score 0.8" in d.reason


def test_deployment_below_minimum_rejected(engine, settings):
    d = engine.deployment(Evaluation("v2", 0.79), Evaluation("v1", 0.5), settings)
    assert not d.deploy and "below Minimum-F1-Score" in d.reason


def test_hook_inference_capacity_from_minimum_inference_units(engine, settings):
    c = engine.capacity(Evaluation("v2", 0.9), with_(settings, **{names.MIN_INFERENCE_UNITS: 3}))
    assert (c.min_units, c.max_units, c.policy) == (3, None, "policies.defaults")


# -- label_decision -------------------------------------------------------------
def review(*labels, purpose="training"):
    return ReviewResult("loop", "d-1", "s3://b/images_for_detection/x.png", purpose,
                        tuple(WorkerAnswer(f"w{i}", label) for i, label in enumerate(labels)), ("cat", "dog"))


def test_hook_label_decision_accepts_a_known_label(engine, settings):
    d = engine.label(review("dog"), settings)
    assert d.accept and d.label == "dog" and d.policy == "policies.defaults"


@pytest.mark.parametrize("answers,why", [
    ((), "no answer"),
    (("None of the Above",), "None of the Above"),
    (("horse",), "'horse' is not one of the labels"),
    ((None,), "names no label"),
    (("cat", "dog"), "reviewers disagree"),
    (("../manifests/x",), "not one of the labels"),
])
def test_label_rejections(engine, settings, answers, why):
    d = engine.label(review(*answers), settings)
    assert not d.accept and d.label is None and why in d.reason


def test_audit_answers_never_become_training_data(engine, settings):
    d = engine.label(review("cat", purpose="audit"), settings)
    assert not d.accept and "audit review never becomes training data" in d.reason


def test_hook_label_decision_asks_the_review_app_for_one_more_answer_when_reviewers_disagree(engine, settings):
    tied = replace(review("cat", "dog"), maximum_answers=3)
    d = engine.label(tied, settings)
    assert (d.accept, d.more) == (False, 1) and "reviewers disagree: cat ×1, dog ×1" in d.reason
    assert engine.label(review("cat", "dog"), settings).more == 0  # A2I: no more answers will come
    settled = engine.label(replace(review("cat", "dog", "cat"), maximum_answers=3), settings)
    assert settled.accept and settled.label == "cat" and settled.more == 0
    with pytest.raises(ValueError):
        LabelDecision(True, "both", "cat", more=1)


def test_majority_of_several_answers(engine, settings):
    d = engine.label(review("cat", "cat", "dog"), settings)
    assert d.accept and d.label == "cat" and "2 of 3 reviewers" in d.reason
