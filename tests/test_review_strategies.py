"""The review strategies (least confidence: the defaults; margin, entropy, class balance, random)
at the boundaries of their parameters, their priorities, and the gate-set routing of answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from factories import detection
from plugins import Engine, LabelDecision, ReviewResult, WorkerAnswer
from policies import class_balance, entropy, gate_set, margin, names, random_review

STRATEGIES = ("policies.margin", "policies.entropy", "policies.class_balance", "policies.random_review")


def load(*modules, **overrides):
    engine = Engine.load(list(modules), entry_points=False)
    return engine, engine.catalog.defaults(overrides)


def test_margin_fires_below_its_limit_only_and_ranks_the_closest_first():
    engine, s = load("policies.margin", **{margin.MARGIN: 30.0})
    close = engine.review(detection(("cat", 64.9), ("dog", 35.1)), s)  # margin 29.8
    assert close.review and close.policy == "policies.margin" and close.priority == pytest.approx(70.2)
    at = engine.review(detection(("cat", 65.0), ("dog", 35.0)), s)  # margin 30: not below
    assert not at.review and at.policy == "policies.margin"
    # Least confidence would review a 65; margin sampling decides instead of adding to it.
    assert engine.review(detection(("cat", 66.0), ("dog", 34.0)), s).review is False
    assert engine.review(detection(), s).review  # no label at all: reviewed first
    never = load("policies.margin", **{margin.MARGIN: 0.0})
    assert not never[0].review(detection(("cat", 50.0), ("dog", 50.0)), never[1]).review  # 0: nothing
    always = load("policies.margin", **{margin.MARGIN: 100.0})
    assert always[0].review(detection(("cat", 99.9), ("dog", 0.1)), always[1]).review  # 100: all but certainty


def test_entropy_fires_from_its_limit_and_looks_at_every_label():
    spread = detection(("cat", 50.0), ("dog", 25.0), ("bird", 25.0))
    narrow = detection(("cat", 50.0), ("dog", 49.0), ("bird", 1.0))
    value = entropy.normalised_entropy(spread)
    assert value == pytest.approx(0.946395, abs=1e-6) and entropy.normalised_entropy(narrow) < value
    engine, s = load("policies.entropy", **{entropy.ENTROPY: math.floor(value * 1e6) / 1e6})
    assert engine.review(spread, s).review  # at the limit: fires
    assert not engine.review(narrow, s).review  # the best two as close as can be, but one label is out
    assert engine.review(spread, s).priority == pytest.approx(94.64, abs=0.01)
    assert entropy.normalised_entropy(detection(("cat", 100.0), ("dog", 0.0))) == 0.0
    assert entropy.normalised_entropy(detection()) == 1.0
    engine, s = load("policies.entropy", **{entropy.ENTROPY: 0.0})
    assert engine.review(detection(("cat", 100.0), ("dog", 0.0)), s).review  # 0: every image


def test_class_balance_raises_the_threshold_of_the_labels_the_training_data_lacks():
    counts = {"cat": 40, "dog": 10}
    engine, s = load("policies.class_balance")  # threshold 70, boost 20
    assert class_balance.lack(detection(("dog", 80.0), training_counts=counts), "dog") == 0.75
    dog = engine.review(detection(("dog", 84.9), ("cat", 15.1), training_counts=counts), s)
    assert dog.review and "threshold 85.0" in dog.reason  # 70 + 20 × 0.75
    assert not engine.review(detection(("dog", 85.0), ("cat", 15.0), training_counts=counts), s).review
    assert not engine.review(detection(("cat", 70.0), ("dog", 30.0), training_counts=counts), s).review  # the best
    cat = engine.review(detection(("cat", 69.0), ("dog", 31.0), training_counts=counts), s)
    assert cat.review and cat.priority == 31.0  # least confidence's priority for the best-provided label
    assert engine.review(detection(("dog", 69.0), ("cat", 31.0), training_counts=counts), s).priority == 46.0
    # Before the first training, or with no boost: exactly least confidence.
    plain, defaults_only = load("policies.class_balance", **{class_balance.BOOST: 0.0}), load()
    for d in (detection(("dog", 84.0), ("cat", 16.0), training_counts=counts), detection(("dog", 69.0), ("cat", 31.0))):
        assert plain[0].review(d, plain[1]).review == defaults_only[0].review(d, defaults_only[1]).review


def test_random_review_reviews_its_share_reproducibly():
    engine, s = load("policies.random_review", **{random_review.SHARE: 0.25})
    picks = [engine.review(detection(("cat", 99.0), ("dog", 1.0), detection_id=f"d{i}"), s) for i in range(2000)]
    share = sum(p.review for p in picks) / len(picks)
    assert 0.22 < share < 0.28  # confidence plays no part
    again = [engine.review(detection(("cat", 10.0), ("dog", 5.0), detection_id=f"d{i}"), s) for i in range(2000)]
    assert [p.review for p in picks] == [p.review for p in again]  # the same images, the same draw
    priorities = [p.priority for p in picks if p.review]
    assert 0 <= min(priorities) < 10 and 90 < max(priorities) <= 100
    for share, expected in ((0.0, False), (1.0, True)):
        engine, s = load("policies.random_review", **{random_review.SHARE: share})
        assert all(engine.review(detection(("cat", 50.0), detection_id=f"d{i}"), s).review == expected
                   for i in range(50))


@pytest.mark.parametrize("module", STRATEGIES)
def test_every_strategy_is_bound_by_review_off_and_leaves_audit_sampling_to_the_defaults(module):
    always = {random_review.SHARE: 1.0} if module.endswith("random_review") else {}
    engine, s = load(module, **{names.ENABLE_REVIEW: False}, **always)
    decision = engine.review(detection(("cat", 20.0), ("dog", 20.0)), s)
    assert not decision.review and decision.policy == names.ENABLE_REVIEW
    assert f"(policy {module!r} asked for one" in decision.reason
    engine, s = load(module, **{names.ENABLE_SAMPLING: True, names.SAMPLING_INTERVAL: 1,
                                margin.MARGIN if module.endswith("margin") else names.MIN_CONFIDENCE: 0.0})
    audit = engine.review(detection(("cat", 99.9), ("dog", 0.1), detection_id="zz"), s)
    if module.endswith("random_review"):
        assert audit.purpose in ("audit", "training")
    else:
        assert audit.review and audit.purpose == "audit"


def test_the_review_budget_caps_every_strategy():
    for module in STRATEGIES:
        engine, s = load("policies.review_budget", module)
        d = engine.review(detection(("cat", 1.0), ("dog", 1.0), reviews_today=500), s)
        assert not d.review and d.policy == "policies.review_budget"


def review(detection_id: str, *labels: str) -> ReviewResult:
    return ReviewResult("hl", detection_id, "s3://b/images_for_detection/x.png", "training",
                        tuple(WorkerAnswer(f"w{i}", label) for i, label in enumerate(labels)), ("cat", "dog"))


def test_the_gate_set_share_routes_accepted_answers_only():
    engine, s = load("policies.gate_set")
    assert s[gate_set.SHARE] == 0.0
    assert not engine.label(review("d1", "cat"), s).gate_set  # 0, the default: nothing routed
    engine, s = load("policies.gate_set", **{gate_set.SHARE: 1.0})
    routed = engine.label(review("d1", "cat"), s)
    assert routed.accept and routed.gate_set and routed.label == "cat" and routed.policy == "policies.gate_set"
    refused = engine.label(review("d1", "cat", "dog"), s)  # a tie: not accepted, so nothing to route
    assert not refused.accept and not refused.gate_set and refused.policy == "policies.defaults"
    engine, s = load("policies.gate_set", **{gate_set.SHARE: 0.3})
    share = np.mean([engine.label(review(f"d{i}", "dog"), s).gate_set for i in range(1000)])
    assert 0.26 < share < 0.34
    with pytest.raises(ValueError):
        LabelDecision(False, "no", gate_set=True)


class _Bucket:
    """Just enough of S3 for the digits trainer: objects by key."""

    def __init__(self):
        self.objects: dict[str, bytes] = {}

    def get_object(self, Bucket, Key):
        import io

        return {"Body": io.BytesIO(self.objects[Key])}

    def head_object(self, Bucket, Key):
        return {"ETag": str(hash(self.objects[Key]))}


def test_margin_fires_at_its_documented_default_on_the_sandboxs_data():
    """The sandbox's first model (20 labelled digits per label, its default start) answers the digits
    it streams: margin sampling at its default reviews some of them. Scores summing to 100, a margin
    below M means a top confidence below 50 + M/2: at 40 it reviews some of what least confidence at
    70 reviews, the most hesitant first."""
    from handlers.lifecycle.manifest import manifest_line
    from sandbox.custom_labels import ModelVersion, TrainingJob
    from sandbox.dataset import load_digits_samples, split
    from sandbox.digits_trainer import DigitsTrainer
    from datetime import datetime, timezone

    seeds, _, stream = split(load_digits_samples(), seed=7, seed_per_label=20, holdout=300, limit=None)
    bucket = _Bucket()
    lines = []
    for sample in seeds:
        key = f"images_labeled_by_folder/{sample.label}/{sample.name}"
        bucket.objects[key] = sample.png()
        lines.append(manifest_line("b", key, sample.label, datetime.now(timezone.utc)))
    bucket.objects["manifests/v1.manifest"] = "".join(lines).encode()
    trainer = DigitsTrainer(seed=7)
    training = trainer.train(TrainingJob("v1", 1, {"Bucket": "b", "Name": "manifests/v1.manifest"}, bucket))
    version = ModelVersion("v1", "arn", "p", "RUNNING", training, {}, datetime.now(timezone.utc))
    engine, s = load("policies.margin")
    defaults_engine, defaults_settings = load()
    by_margin, by_confidence = set(), set()
    for sample in stream[:400]:
        bucket.objects[sample.name] = sample.png()
        scores = trainer.detect(version, {"Bucket": "b", "Name": sample.name}, bucket)
        d = detection(*scores, detection_id=f"{sample.index:032x}")
        if engine.review(d, s).review:
            by_margin.add(sample.index)
        if defaults_engine.review(d, defaults_settings).review:
            by_confidence.add(sample.index)
    assert s[margin.MARGIN] == 40.0
    assert 0.03 * 400 < len(by_margin) < 0.6 * 400, len(by_margin)
    assert by_margin < by_confidence
