import pytest

from components.config import ConfigError, parse_stack_config

BASE = {"labels": ["cat", "dog"], "workteamName": "reviewers"}


def cfg(**changes):
    raw = dict(BASE, **changes)
    return parse_stack_config({k: v for k, v in raw.items() if v is not None})


def test_a_small_valid_config():
    c = cfg(notificationEmail="ops@example.com", policies=["policies.uncertainty"], tags={"team": "vision"})
    assert c.labels == ("cat", "dog") and c.workteam_name == "reviewers" and not c.create_workforce
    assert c.lambda_architecture == "arm64" and c.log_retention_days == 30
    assert c.policies == ("policies.uncertainty",)
    assert (c.max_training_hours, c.max_start_minutes) == (24.0, 60)
    assert cfg(maxTrainingHours=2.5, maxStartMinutes=30).max_training_hours == 2.5


def test_a2i_review_takes_at_most_nine_labels_besides_none_of_the_above():
    labels = [f"l{i}" for i in range(9)]
    assert cfg(labels=labels).labels == tuple(labels) and cfg().review_backend == "a2i"
    with pytest.raises(ConfigError) as err:
        cfg(labels=[*labels, "l9"])
    assert err.value.key == "labels"
    assert str(err.value).endswith("Fix: use at most 9 labels (merge or drop some)")


@pytest.mark.parametrize("changes,message", [
    ({"labels": None}, "labelloop:labels is required"),
    ({"labels": ["cat"]}, "has 1 label(s); Rekognition classification needs 2 to 250"),
    ({"labels": [f"l{i}" for i in range(251)]}, "has 251 label(s)"),
    ({"labels": [f"l{i}" for i in range(10)]}, "shows at most 10 choices: 9 labels and 'None of the Above'"),
    ({"labels": ["cat", "a/b"]}, "contains 'a/b', which cannot be an S3 folder"),
    ({"labels": ["cat", "../x"]}, "contains '../x'"),
    ({"labels": ["cat", "Cat"]}, "contains 'cat' and 'Cat'"),
    ({"labels": ["cat", "None of the Above"]}, "must not contain 'None of the Above'"),
    ({"labels": "cat,dog"}, "must be a list of names"),
    ({"createWorkforce": True}, "workteamName and createWorkforce are both set"),
    ({"workteamName": None}, "workteamName is required unless createWorkforce is true"),
    ({"notificationEmail": "not-an-address"}, "is not an e-mail address"),
    ({"workteamName": None, "createWorkforce": True, "reviewerEmails": ["x"]}, "reviewerEmails contains 'x'"),
    ({"reviewerEmails": ["a@b.co"]}, "only used when createWorkforce is true"),
    ({"policies": ["acme/policy.py"]}, "importable module names"),
    ({"lambdaArchitecture": "sparc"}, "use one of arm64, x86_64"),
    ({"logRetentionDays": 10}, "which CloudWatch Logs does not accept"),
    ({"tags": {"a": 1}}, "must map strings to strings"),
    ({"createWorkforce": "yes"}, "must be true or false"),
    ({"maxTrainingHours": 0}, "labelloop:maxTrainingHours is 0"),
    ({"maxTrainingHours": "long"}, "set a number from 1 to 72"),
    ({"maxStartMinutes": 1000}, "set a number from 5 to 240"),
])
def test_invalid_config_names_the_key_and_the_fix(changes, message):
    with pytest.raises(ConfigError) as err:
        cfg(**changes)
    assert message in str(err.value) and "Fix:" in str(err.value)
