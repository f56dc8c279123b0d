"""The gate set (images_for_testing/): every training's TestingData once it has images, and the
side-by-side evaluation of the candidate and the running model on it before the switch."""

from __future__ import annotations

import pytest

from lifecycle_support import PNG, finish_result, lifecycle_stack, loop, output, seed

from handlers.lifecycle import manifest
from handlers.runtime import context
from plugins import Evaluation, LabelMetrics
from plugins.scoring import NO_LABEL, score
from sandbox.scripted_trainer import scripted_custom_labels

GATE = {f"images_for_testing/{label}/{i}.png": label for label in ("cat", "dog") for i in range(5)}  # the minimum
RIGHT = {key: ((label, 90.0), ("dog" if label == "cat" else "cat", 10.0)) for key, label in GATE.items()}


def put_gate_set(stack, keys=GATE) -> None:
    s3 = stack.client("s3")
    for key in keys:
        s3.put_object(Bucket=stack.bucket, Key=key, Body=PNG + key.encode())


def answers(wrong: dict[str, str]) -> dict:
    """Right answers for the gate set but for ``wrong`` (key -> the label answered instead)."""
    return RIGHT | {key: ((label, 70.0), (GATE[key], 30.0)) for key, label in wrong.items()}


def sent_testing_data(stack) -> list[dict]:
    return [call["TestingData"] for call in stack.models.operations("CreateProjectVersion")]


def detected_keys(stack, version: str) -> list[str]:
    arn = stack.models.arn(version)
    return sorted(call["Image"]["S3Object"]["Name"] for call in stack.models.operations("DetectCustomLabels")
                  if call["ProjectVersionArn"] == arn)


def test_scoring_gives_per_label_metrics_and_the_confusion_matrix():
    pairs = [("cat", "cat")] * 4 + [("dog", "dog")] * 3 + [("dog", "cat"), ("dog", None)]
    ev = score("v2", pairs, gate_set="g1")
    assert ev.per_label["cat"] == LabelMetrics(0.888889, 0.8, 1.0, images=4)
    assert ev.per_label["dog"] == LabelMetrics(0.75, 1.0, 0.6, images=5)
    assert (ev.f1, ev.precision, ev.recall, ev.images) == (0.819444, 0.9, 0.8, 9)
    assert ev.confusion == {"cat": {"cat": 4}, "dog": {"dog": 3, "cat": 1, NO_LABEL: 1}}
    assert ev.same_images(Evaluation("v1", 0.5, gate_set="g1"))
    assert not ev.same_images(Evaluation("v1", 0.5, gate_set="g2")) and not ev.same_images(Evaluation("v1", 0.5))


def test_the_gate_set_manifest_and_its_version_follow_the_images(stack):
    seed_training = {f"images_labeled_by_folder/{label}/a.png": label for label in ("cat", "dog")}
    put_gate_set(stack, {**seed_training, **GATE, "images_for_testing/bird/x.png": "bird",
                         "images_for_testing/cat/notes.txt": "cat"})
    first = manifest.build(stack.bucket, "v1", ("cat", "dog"))
    assert first["testing_manifest_key"] == "manifests/v1.testing.manifest"
    assert first["gate_set"]["images"] == 10 and first["gate_set"]["counts"] == {"cat": 5, "dog": 5}
    body = stack.client("s3").get_object(Bucket=stack.bucket, Key=first["testing_manifest_key"])["Body"].read()
    assert sorted(manifest.parse_line(line)[1:] for line in body.decode().splitlines()) == sorted(GATE.items())
    again = manifest.build(stack.bucket, "v2", ("cat", "dog"))
    assert again["gate_set"]["version"] == first["gate_set"]["version"]  # the same images: the same version
    put_gate_set(stack, {"images_for_testing/dog/19.png": "dog"})
    grown = manifest.build(stack.bucket, "v3", ("cat", "dog"))
    assert grown["gate_set"]["version"] != first["gate_set"]["version"] and grown["gate_set"]["images"] == 11


@pytest.fixture
def stack():
    with lifecycle_stack() as stack:
        yield stack


def test_with_a_gate_set_the_training_is_tested_on_it_and_compared_side_by_side():
    models = scripted_custom_labels()
    models.trainer.script("v1", answers=answers({"images_for_testing/cat/0.png": "dog"}))
    models.trainer.script("v2", answers=RIGHT)
    with lifecycle_stack(models, policies=("policies.champion_challenger",)) as stack:
        seed(stack, {"cat": 6, "dog": 6})
        first = stack.run_lifecycle()  # no gate set yet: AutoCreate, no comparison
        assert output(first)["outcome"]["value"] == "deployed" and "comparison" not in output(first)
        put_gate_set(stack)
        seed(stack, {"cat": 5, "dog": 5}, start=100)
        execution = stack.run_lifecycle()

        assert sent_testing_data(stack) == [{"AutoCreate": True}, {"Assets": [{"GroundTruthManifest": {"S3Object": {
            "Bucket": stack.bucket, "Name": "manifests/v2.testing.manifest"}}}]}]
        state = output(execution)
        assert state["outcome"]["value"] == "deployed" and loop().active_version == "v2"
        comparison = state["comparison"]["value"]
        gate = state["manifest"]["value"]["gate_set"]["version"]
        # v1 missed one cat of five: cat P 1 R 0.8, dog P 5/6 R 1; v2 answered every image right.
        assert (comparison["f1"], comparison["incumbent_f1"], comparison["gate_set"]) == (1.0, 0.89899, gate)
        assert comparison["deploy"] and comparison["policy"] == "policies.defaults"
        assert detected_keys(stack, "v1") == detected_keys(stack, "v2") == sorted(GATE)  # the same images
        record = context.table().model("v2")
        assert record.gate_set == gate and record.evaluation["gate_set"] == gate
        assert record.side_by_side["incumbent"]["confusion"] == {"cat": {"cat": 4, "dog": 1}, "dog": {"dog": 5}}
        assert record.side_by_side["candidate"]["per_label"]["cat"]["recall"] == 1.0


def test_a_candidate_worse_than_the_running_model_on_the_gate_set_is_refused_and_stopped():
    models = scripted_custom_labels()
    models.trainer.script("v1", answers=RIGHT)
    # Rekognition's own evaluation says 0.95; on the gate set it misses one dog of four.
    models.trainer.script("v2", f1=0.95, answers=answers({"images_for_testing/dog/3.png": "cat"}))
    with lifecycle_stack(models, policies=("policies.champion_challenger",)) as stack:
        put_gate_set(stack)
        seed(stack, {"cat": 6, "dog": 6})
        assert output(stack.run_lifecycle())["outcome"]["value"] == "deployed"
        seed(stack, {"cat": 5, "dog": 5}, start=100)
        execution = stack.run_lifecycle()

        state = output(execution)
        assert state["candidate"]["value"]["deploy"]  # the evaluation gate let it through
        comparison = state["comparison"]["value"]
        # cat: P 5/6 R 1 (F1 0.909091); dog: P 1 R 0.8 (F1 0.888889)
        assert (comparison["f1"], comparison["incumbent_f1"]) == (0.89899, 1.0)
        assert not comparison["deploy"] and comparison["policy"] == "policies.champion_challenger"
        assert state["outcome"]["value"] == "rejected" and loop().active_version == "v1"
        assert models.status("v2") in ("STOPPING", "STOPPED") and models.status("v1") == "RUNNING"
        finish = finish_result(stack, execution)
        assert "stopped v2" in "; ".join(finish["notes"]) and "on the gate set, next to v1" in finish["reason"]
        assert context.table().model("v2").decision["deploy"] is False
