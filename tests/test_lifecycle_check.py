"""The training check costs the same few AWS calls however large the dataset:
it reads the per-label counters, never the bucket."""

from __future__ import annotations

import pytest
from lifecycle_support import lifecycle_stack, loop

from handlers.lifecycle.check import check
from handlers.runtime import aws, context

SERVICES = ("dynamodb", "ssm", "sns", "s3", "rekognition", "stepfunctions")


@pytest.fixture
def calls():
    recorded: list[str] = []

    def record(model, **_):
        recorded.append(f"{model.service_model.service_name}:{model.name}")

    yield recorded, record


def test_check_calls_do_not_grow_with_the_dataset(calls):
    recorded, record = calls
    with lifecycle_stack() as stack:
        for service in SERVICES:
            aws.client(service).meta.events.register("before-call.*.*", record)
        table = context.table()
        for images in (1_000, 100_000, 1_000_000):
            table.set_counts({"cat": images // 2, "dog": images // 2})
            context.parameters().provider.clear_cache()  # count the parameter read too
            recorded.clear()

            result = check(f"run-{images}", "schedule")

            assert result["train"] is True and result["images"] == images
            assert recorded[0] == "dynamodb:Query" and "ssm:GetParametersByPath" in recorded
            assert len(recorded) <= 4, recorded
            assert not any(call.startswith("s3:") for call in recorded)
            assert loop().training_owner == f"run-{images}"
            table.release_training_lock(f"run-{images}")
            table.mark_seen({"cat": images // 2, "dog": images // 2})

        recorded.clear()
        result = check("run-idle", "schedule")  # nothing new: a decision not to train, recorded
        assert result["train"] is False and result["new_images"] == 0
        assert len(recorded) <= 4, recorded
        assert loop().last_training_decision["reason"].startswith("0 new labelled images")
        assert stack.notifications() == []  # a check that does not train is not worth an e-mail
