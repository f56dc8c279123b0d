"""The alternative policies teams can switch on, composed with the defaults."""


from factories import detection
from plugins import Engine, Evaluation, LabelMetrics
from policies import champion_challenger as cc, names, review_budget as rb, uncertainty as un


def load(*modules):
    engine = Engine.load(list(modules), entry_points=False)
    return engine, engine.catalog.defaults()


def ev(version, f1, **labels):
    return Evaluation(version, f1, per_label={k: LabelMetrics(v, v, v) for k, v in labels.items()})


def test_each_alternative_contributes_its_parameters():
    engine, settings = load("policies.champion_challenger", "policies.uncertainty", "policies.review_budget")
    assert engine.catalog[cc.MARGIN].owner == "policies.champion_challenger"
    assert engine.catalog[un.THRESHOLDS].owner == "policies.uncertainty"
    assert settings[rb.BUDGET] == 500
    contributed = [*cc.labelloop_parameters(), *un.labelloop_parameters(), *rb.labelloop_parameters()]
    assert len(contributed) >= 3 and len(engine.catalog) == len(Engine.load([], entry_points=False).catalog) + len(contributed)


def test_champion_challenger_needs_the_margin():
    engine, s = load("policies.champion_challenger")
    d = engine.deployment(ev("v2", 0.905, a=0.9), ev("v1", 0.9, a=0.9), s)
    assert not d.deploy and d.policy == "policies.champion_challenger" and "does not beat" in d.reason


def test_champion_challenger_refuses_a_label_regression():
    engine, s = load("policies.champion_challenger")
    d = engine.deployment(ev("v2", 0.95, a=0.99, b=0.80), ev("v1", 0.90, a=0.90, b=0.90), s)
    assert not d.deploy and "label 'b' F1 drops by 0.100" in d.reason


def test_champion_challenger_defers_when_better_and_defaults_still_gate():
    engine, s = load("policies.champion_challenger")
    d = engine.deployment(ev("v2", 0.95, a=0.95), ev("v1", 0.90, a=0.93), s)
    assert d.deploy and d.policy == "policies.defaults"
    d = engine.deployment(ev("v2", 0.75), ev("v1", 0.60), s)
    assert not d.deploy and d.policy == "policies.defaults"


def test_champion_challenger_first_deployment_is_left_to_defaults():
    engine, s = load("policies.champion_challenger")
    assert engine.deployment(ev("v1", 0.85), None, s).policy == "policies.defaults"


def test_uncertainty_reviews_close_calls_the_defaults_would_pass():
    engine, s = load("policies.uncertainty")
    d = engine.review(detection(("cat", 80.0), ("dog", 75.0)), s)
    assert d.review and d.purpose == "training" and d.policy == "policies.uncertainty"
    d = engine.review(detection(("cat", 90.0), ("dog", 5.0)), s)
    assert not d.review and d.policy == "policies.defaults"


def test_uncertainty_per_label_thresholds():
    engine, s = load("policies.uncertainty")
    s = s.replace(**{un.THRESHOLDS: engine.catalog[un.THRESHOLDS].parse("cat=95")})
    d = engine.review(detection(("cat", 90.0), ("dog", 2.0)), s)
    assert d.review and "below its own threshold 95" in d.reason
    assert not engine.review(detection(("dog", 90.0), ("cat", 2.0)), s).review


def test_uncertainty_is_bound_by_the_review_switch():
    engine, s = load("policies.uncertainty")
    s = s.replace(**{names.ENABLE_REVIEW: False})
    d = engine.review(detection(("cat", 51.0), ("dog", 49.0)), s)
    assert not d.review and d.policy == names.ENABLE_REVIEW and "policy 'policies.uncertainty'" in d.reason


def test_review_budget_vetoes_once_spent():
    engine, s = load("policies.review_budget")
    s = s.replace(**{rb.BUDGET: 2})
    assert engine.review(detection(("cat", 10.0), reviews_today=1), s).review
    d = engine.review(detection(("cat", 10.0), reviews_today=2), s)
    assert not d.review and d.policy == "policies.review_budget" and "2 reviews started today" in d.reason


def test_review_budget_runs_before_other_team_policies():
    engine, s = load("policies.uncertainty", "policies.review_budget")
    s = s.replace(**{rb.BUDGET: 0})
    d = engine.review(detection(("cat", 51.0), ("dog", 49.0)), s)
    assert not d.review and d.policy == "policies.review_budget"
