import pytest

from components.config import ConfigError, parse_stack_config
from components.review_backends.builtin import ExistingReviewerPool, Throttle

BASE = {"labels": ["cat", "dog"], "review": "a2i", "workteamName": "reviewers"}
POOL = {"reviewerUserPoolId": "eu-west-1_AbC123", "reviewerGroup": "labelers", "reviewerUserPoolDomain": "acme-login"}


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


# -- the review backend ------------------------------------------------------------------------
def builtin(**changes):
    raw = {"labels": ["cat", "dog"], **changes}
    return parse_stack_config({k: v for k, v in raw.items() if v is not None})


def test_the_builtin_review_app_is_the_default_and_needs_only_labels():
    c = builtin()
    assert c.review_backend == "builtin" and builtin(review="builtin") == c
    assert (c.workteam_name, c.create_workforce, c.reviewer_emails, c.reviewer_pool) == (None, False, (), None)
    assert c.review_api_throttle == Throttle(20.0, 40)
    assert (c.review_image_url_seconds, c.review_alarm_hours) == (300, 24.0)


def test_the_builtin_review_app_takes_every_label_rekognition_does():
    labels = [f"l{i}" for i in range(250)]
    assert builtin(labels=labels).labels == tuple(labels)


def test_builtin_review_settings():
    c = builtin(reviewerEmails=["ana@example.com"], reviewApiThrottle={"rate": 2.5, "burst": 5},
                reviewImageUrlSeconds=120, reviewAlarmHours=6)
    assert c.reviewer_emails == ("ana@example.com",) and c.reviewer_pool is None
    assert c.review_api_throttle == Throttle(2.5, 5)
    assert builtin(reviewApiThrottle={"burst": 9}).review_api_throttle == Throttle(20.0, 9)
    assert (c.review_image_url_seconds, c.review_alarm_hours) == (120, 6.0)


def test_reviewers_of_an_existing_pool():
    c = builtin(**POOL)
    assert c.reviewer_pool == ExistingReviewerPool("eu-west-1_AbC123", "labelers", "acme-login")
    assert c.reviewer_pool.region == "eu-west-1"
    custom = builtin(**{**POOL, "reviewerUserPoolDomain": "login.example.com"})
    assert custom.reviewer_pool.domain == "login.example.com"


@pytest.mark.parametrize("changes,key,message", [
    ({"review": "mturk"}, "review", "labelloop:review is 'mturk'. Fix: use 'builtin' (labelloop's own review app, "
                                    "the default) or 'a2i' (Amazon A2I, for accounts that are existing A2I customers)"),
    ({"workteamName": "reviewers"}, "workteamName", "is only used with labelloop:review a2i. Fix: set "
                                                    "labelloop:review a2i to keep reviewing in Amazon A2I"),
    ({"createWorkforce": True}, "createWorkforce", "is only used with labelloop:review a2i"),
    ({"reviewerUserPoolId": "eu-west-1_AbC123"}, "reviewerGroup", "is required with an existing user pool"),
    ({**POOL, "reviewerUserPoolDomain": None}, "reviewerUserPoolDomain", "is required with an existing user pool"),
    ({**POOL, "reviewerUserPoolId": "my-pool"}, "reviewerUserPoolId", "'my-pool', which is not a user pool id"),
    ({**POOL, "reviewerGroup": "two words"}, "reviewerGroup", "is 'two words'"),
    ({**POOL, "reviewerUserPoolDomain": "https://x.example.com"}, "reviewerUserPoolDomain", "the pool's domain prefix"),
    ({**POOL, "reviewerEmails": ["ana@example.com"]}, "reviewerEmails", "is only used with the stack's own user pool"),
    ({"reviewerEmails": ["ana"]}, "reviewerEmails", "contains 'ana', which is not an e-mail address"),
    ({"reviewApiThrottle": {"rate": 0}}, "reviewApiThrottle", "has rate 0"),
    ({"reviewApiThrottle": {"burst": 2.5}}, "reviewApiThrottle", "has burst 2.5"),
    ({"reviewApiThrottle": {"rps": 5}}, "reviewApiThrottle", "e.g. {rate: 20, burst: 40}"),
    ({"reviewImageUrlSeconds": 5}, "reviewImageUrlSeconds", "set a number from 60 to 3600"),
    ({"reviewAlarmHours": 0}, "reviewAlarmHours", "set a number from 1 to 240"),
])
def test_invalid_builtin_review_config_names_the_key_and_the_fix(changes, key, message):
    with pytest.raises(ConfigError) as err:
        builtin(**changes)
    assert err.value.key == key
    assert message in str(err.value) and "Fix:" in str(err.value)


@pytest.mark.parametrize("key,value", [("reviewerGroup", "labelers"), ("reviewApiThrottle", {"rate": 5}),
                                       ("reviewImageUrlSeconds", 600), ("reviewAlarmHours", 0)])
def test_the_builtin_review_apps_keys_are_refused_with_a2i(key, value):
    with pytest.raises(ConfigError, match=f"labelloop:{key} is only used with labelloop:review builtin"):
        cfg(**{key: value})
