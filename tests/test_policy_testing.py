"""What a policy author writes tests with: keyword constructors of the facts, and plugins.testing."""

import pytest

from plugins import DatasetStats, Detection, InvalidParameterValue, LabelScore, ModelState
from plugins.testing import dataset, detection, evaluation, model, policy_engine, review


def test_facts_take_keywords_and_plain_scores():
    fact = Detection(detection_id="d-7", image_uri="s3://b/images_for_detection/x.png", model_version="v2",
                     labels={"dog": 30.0, "cat": 62.0})
    assert fact.labels == (LabelScore("cat", 62.0), LabelScore("dog", 30.0)) and fact.reviews_today == 0
    assert Detection("d", "s3://b/k", "v1", [("cat", 10)]).top == LabelScore("cat", 10.0)
    assert Detection("d", "s3://b/k", "v1").top is None  # the model returned nothing
    assert DatasetStats().total == 0 and ModelState().active_version is None


def test_the_builders_make_realistic_facts():
    fact = detection({"cat": 62.0, "dog": 30.0}, image="cat-0010.png")
    assert fact.top_confidence == 62.0 and fact.image_uri.endswith("/cat-0010.png") and fact.detection_id == "det-cat-0010.png"
    assert dataset(new={"cat": 12}).label_set == ("cat", "dog") and dataset(new={"cat": 12}).new_total == 12
    assert model(None).active_f1 is None and model(training="v3").training_in_progress
    assert evaluation(0.8, {"cat": 0.9, "dog": 0.7}).per_label["dog"].f1 == 0.7
    assert review("cat", None).answered_labels == ("cat",)


def test_the_engine_decides_with_them_as_a_function_would():
    engine, settings = policy_engine("policies.review_budget", Minimum_F1_Score=0.95, **{"Maximum-Reviews-Per-Day": 2})
    assert settings["Minimum-F1-Score"] == 0.95 and settings["Maximum-Reviews-Per-Day"] == 2
    assert engine.review(detection({"cat": 62.0}), settings).review
    budget = engine.review(detection({"cat": 62.0}, reviews_today=2), settings)
    assert not budget.review and budget.policy == "policies.review_budget"
    assert engine.training(dataset(new={"cat": 12}), model(), settings).train
    assert not engine.deployment(evaluation(0.9), None, settings).deploy
    assert engine.label(review("dog"), settings).label == "dog"


def test_a_bad_parameter_value_is_refused_as_parameter_store_values_are():
    with pytest.raises(InvalidParameterValue, match="Minimum-F1-Score"):
        policy_engine(Minimum_F1_Score=3)
