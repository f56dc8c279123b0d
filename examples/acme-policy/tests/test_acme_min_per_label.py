from plugins import DatasetStats, Engine, ModelState

import acme_min_per_label as acme


def engine_and_settings():
    engine = Engine.load(["acme_min_per_label"], entry_points=False)
    return engine, engine.catalog.defaults()


def test_short_label_blocks_training():
    engine, settings = engine_and_settings()
    dataset = DatasetStats({"cat": 40, "dog": 2}, {"cat": 30}, label_set=("cat", "dog"))
    decision = engine.training(dataset, ModelState("v1"), settings)
    assert not decision.train
    assert decision.policy == "acme_min_per_label"
    assert decision.reason == "labels with fewer than 5 images: dog"


def test_enough_images_leaves_the_defaults_in_charge():
    engine, settings = engine_and_settings()
    dataset = DatasetStats({"cat": 40, "dog": 9}, {"cat": 30}, label_set=("cat", "dog"))
    decision = engine.training(dataset, ModelState("v1"), settings)
    assert decision.train and decision.policy == "policies.defaults"


def test_its_parameter_is_an_operator_parameter():
    engine, settings = engine_and_settings()
    spec = engine.catalog[acme.MIN_PER_LABEL]
    assert spec.owner == "acme_min_per_label" and settings[acme.MIN_PER_LABEL] == 5
    assert spec.parse(" 12 ") == 12
