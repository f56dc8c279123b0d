"""Deployment decisions on comparable images: a stopped running model is compared with the candidate
on the gate-set images both were scored on, or started for the comparison; a gate set that misses a
label, or has too few images of one, is refused for deciding."""

from __future__ import annotations

from lifecycle_support import PNG, finish_result, lifecycle_stack, loop, output, seed

from cli.versions_cmd import version_row
from handlers.runtime import context
from handlers.runtime.state import Dataset, LoopState, ModelVersion
from handlers.runtime.stuck import diagnose
from plugins import Evaluation, LabelMetrics
from plugins.engine import GATE_SET_RULE
from plugins.scoring import score
from plugins.testing import policy_engine
from sandbox.scripted_trainer import scripted_custom_labels

CHAMPION = ("policies.champion_challenger",)
GATE = {f"images_for_testing/{label}/{i}.png": label for label in ("cat", "dog") for i in range(5)}


def right(keys) -> dict:
    """Right answers, with confidence, for every gate image of ``keys``."""
    return {key: ((label, 90.0), ("dog" if label == "cat" else "cat", 10.0)) for key, label in keys.items()}


def wrong(key: str, label: str) -> dict:
    return {key: ((label, 70.0), ("cat" if label == "dog" else "dog", 30.0))}


def put(stack, keys) -> None:
    s3 = stack.client("s3")
    for key in keys:
        s3.put_object(Bucket=stack.bucket, Key=key, Body=PNG + key.encode())
    stack.pump()


def stop_active(stack) -> None:
    """Serving on demand stopped the running model (the operator's stop does the same)."""
    assert stack.serve({"action": "stop"})["outcome"] == "stopped"
    stack.models.settle()


def test_a_stopped_incumbent_scored_on_an_older_gate_set_is_compared_on_the_images_both_saw():
    grown = {**GATE, "images_for_testing/cat/5.png": "cat"}
    models = scripted_custom_labels()
    models.trainer.script("v1", answers=right(grown))
    # Rekognition's own evaluation says 0.95; on the gate set v2 misses a dog v1 got right.
    models.trainer.script("v2", f1=0.95, answers=right(grown) | wrong("images_for_testing/dog/0.png", "cat"))
    with lifecycle_stack(models, policies=CHAMPION) as stack:
        put(stack, GATE)
        seed(stack, {"cat": 6, "dog": 6})
        assert output(stack.run_lifecycle())["outcome"]["value"] == "deployed"
        stop_active(stack)
        put(stack, {"images_for_testing/cat/5.png": "cat"})  # a new gate-set version
        seed(stack, {"cat": 5, "dog": 5}, start=100)
        state = output(stack.run_lifecycle())

        comparison = state["comparison"]["value"]
        assert comparison["incumbent_version"] == "v1" and comparison["incumbent_f1"] == 1.0
        assert comparison["images"] == 11 and comparison["compared_images"] == 10  # the new cat: v2 alone
        assert "recorded answers" in comparison["incumbent_source"]
        assert not comparison["deploy"] and comparison["policy"] == "policies.champion_challenger"
        assert state["outcome"]["value"] == "rejected" and loop().active_version == "v1"
        assert models.operations("StartProjectVersion")[-1]["ProjectVersionArn"] == models.arn("v2")  # v1 not started
        side = context.table().model("v2").side_by_side
        assert side["incumbent_source"] == comparison["incumbent_source"] and side["compared_images"] == 10
        shown = version_row(context.table().model("v2"), "v1")["compared"]  # what `labelloop versions` shows
        assert (shown["with"], shown["images"], shown["of"], shown["incumbent_f1"]) == ("v1", 10, 11, 1.0)


def test_a_stopped_incumbent_never_scored_image_by_image_is_started_for_the_comparison():
    models = scripted_custom_labels()
    models.trainer.script("v1", answers=right(GATE))
    models.trainer.script("v2", f1=0.95, answers=right(GATE) | wrong("images_for_testing/cat/1.png", "dog"))
    with lifecycle_stack(models, policies=CHAMPION) as stack:
        seed(stack, {"cat": 6, "dog": 6})
        assert output(stack.run_lifecycle())["outcome"]["value"] == "deployed"  # no gate set yet
        stop_active(stack)
        put(stack, GATE)
        seed(stack, {"cat": 5, "dog": 5}, start=100)
        execution = stack.run_lifecycle()
        state = output(execution)

        comparison = state["comparison"]["value"]
        assert comparison["incumbent_source"].startswith("started for the comparison")
        assert (comparison["f1"], comparison["incumbent_f1"], comparison["compared_images"]) == (0.898990, 1.0, 10)
        assert not comparison["deploy"] and state["outcome"]["value"] == "rejected"
        started = [call["ProjectVersionArn"] for call in models.operations("StartProjectVersion")]
        assert started.count(models.arn("v1")) == 2  # the first deployment, then for the comparison
        models.settle()
        assert models.status("v1") == "STOPPED" and models.status("v2") == "STOPPED"  # both stopped again
        assert any("started for the comparison" in note for note in finish_result(stack, execution)["notes"])
        assert loop().active_version == "v1"


def test_champion_challenger_never_deploys_for_lack_of_a_comparison():
    models = scripted_custom_labels()
    models.trainer.script("v1", answers=right(GATE))
    models.trainer.script("v2", f1=0.95, answers=right(GATE))
    with lifecycle_stack(models, policies=CHAMPION) as stack:
        seed(stack, {"cat": 6, "dog": 6})
        assert output(stack.run_lifecycle())["outcome"]["value"] == "deployed"
        stop_active(stack)
        put(stack, GATE)
        seed(stack, {"cat": 5, "dog": 5}, start=100)
        models.versions["v1"].training.starting = ("STARTING", "FAILED")  # v1 cannot start again
        state = output(stack.run_lifecycle())

        comparison = state["comparison"]["value"]
        assert comparison["incumbent_f1"] is None and not comparison["deploy"]
        assert comparison["policy"] == "policies.champion_challenger"
        assert "no comparison with the running v1" in comparison["reason"]
        assert loop().active_version == "v1"


def test_a_gate_set_without_a_label_is_refused_for_deciding_and_says_which_label_to_add():
    cats_only = {key: label for key, label in GATE.items() if label == "cat"}
    models = scripted_custom_labels(default_labels=(("cat", 95.0), ("dog", 5.0)))  # never answers dog
    models.trainer.script("v1", f1=1.0)
    with lifecycle_stack(models) as stack:
        put(stack, cats_only)
        seed(stack, {"cat": 6, "dog": 6})
        execution = stack.run_lifecycle()
        state = output(execution)

        assert state["outcome"]["value"] == "rejected" and loop().active_version is None
        refusal = state["candidate"]["value"]
        assert not refusal["deploy"] and "'dog'" in refusal["reason"] and "images_for_testing/dog/" in refusal["reason"]
        record = context.table().model("v1")
        assert record.evaluation["per_label"]["dog"]["images"] == 0  # scores cover every label
        assert record.evaluation["per_label"]["dog"]["f1"] == 0.0
        [message] = [m for m in stack.notifications() if "not deployed" in m["subject"]]
        assert "'dog'" in message["message"]
        stuck = diagnose(*context.table().loop_and_dataset(), context.settings(), context.table().models())
        assert any("images_for_testing/dog/" in s.fix for s in stuck), stuck


def test_a_gate_set_with_too_few_images_of_a_label_is_refused_until_they_are_added():
    few = {key: label for key, label in GATE.items() if label == "cat" or key.endswith(("0.png", "1.png"))}
    models = scripted_custom_labels()
    models.trainer.script("v1", f1=1.0, answers=right(GATE))
    models.trainer.script("v2", f1=1.0, answers=right(GATE))
    with lifecycle_stack(models) as stack:
        put(stack, few)
        seed(stack, {"cat": 6, "dog": 6})
        state = output(stack.run_lifecycle())  # Minimum-Gate-Set-Images-Per-Label: 5 by default
        assert state["outcome"]["value"] == "rejected"
        reason = state["candidate"]["value"]["reason"]
        assert "2 of 5 images of 'dog'" in reason and "'cat'" not in reason and "3 to images_for_testing/dog/" in reason
        put(stack, GATE)  # three more dogs
        seed(stack, {"cat": 5, "dog": 5}, start=100)
        assert output(stack.run_lifecycle())["outcome"]["value"] == "deployed" and loop().active_version == "v2"


# -- the rules, without a stack --------------------------------------------------------------------
def test_scores_cover_every_label_and_a_label_without_images_scores_nothing():
    never_dog = score("v2", [("cat", "cat")] * 5, "g1", labels=("cat", "dog"))
    assert never_dog.per_label["dog"] == LabelMetrics(0.0, 0.0, 0.0, images=0)
    assert never_dog.f1 == 0.5 and never_dog.short_labels(5) == {"dog": 0}
    assert score("v2", [("cat", "cat")] * 5, "g1").f1 == 1.0  # the labels present only: what hid the gap
    assert score("v2", [("cat", "cat")] * 5, labels=("cat", "dog")).short_labels(5) == {}  # no gate set: no rule


def test_the_engine_refuses_a_thin_gate_set_whatever_the_policies_say():
    engine, settings = policy_engine("policies.champion_challenger")
    thin = Evaluation("v2", 1.0, per_label={"cat": LabelMetrics(1.0, 1.0, 1.0, images=9),
                                            "dog": LabelMetrics(1.0, 1.0, 1.0, images=3)}, gate_set="g1")
    decision = engine.deployment(thin, None, settings)
    assert not decision.deploy and decision.policy == GATE_SET_RULE
    assert "3 of 5 images of 'dog'" in decision.reason and "2 to images_for_testing/dog/" in decision.reason
    assert engine.deployment(thin, None, settings.replace(**{"Minimum-Gate-Set-Images-Per-Label": 3})).deploy


def test_champion_challenger_tells_nothing_to_beat_from_nothing_to_compare_with():
    engine, settings = policy_engine("policies.champion_challenger")
    side = score("v2", [("cat", "cat")] * 5 + [("dog", "dog")] * 5, "g2", labels=("cat", "dog"))
    first = engine.deployment(side, None, settings)
    assert first.deploy and first.policy == "policies.defaults"
    alone = engine.deployment(side, None, settings, replaces="v1")
    assert not alone.deploy and alone.policy == "policies.champion_challenger" and "v1" in alone.reason
    evaluated = Evaluation("v2", 0.95, gate_set="g2")  # Rekognition's, at the evaluation gate: the side-by-side follows
    assert engine.deployment(evaluated, None, settings, replaces="v1").policy == "policies.defaults"
    auto = engine.deployment(Evaluation("v2", 0.95), Evaluation("v1", 0.9, gate_set="g1"), settings)
    assert not auto.deploy and "no comparison with the running v1" in auto.reason  # gate set gone: not comparable


def test_status_names_the_labels_to_add_and_offers_a_lower_minimum_only_when_none_is_missing():
    def stuck(images: dict[str, int]) -> list[str]:
        evaluation = {"f1": 1.0, "gate_set": "g1", "per_label": {k: {"f1": 1.0, "images": n} for k, n in images.items()}}
        refused = ModelVersion("v3", evaluation=evaluation, decision={"deploy": False, "policy": GATE_SET_RULE})
        found = diagnose(LoopState(), Dataset(), {"Minimum-Gate-Set-Images-Per-Label": 5}, [refused])
        return [s.line() for s in found]

    [missing] = stuck({"cat": 7, "dog": 0})
    assert "0 image(s) of 'dog'" in missing and "5 to images_for_testing/dog/" in missing and "params set" not in missing
    [thin] = stuck({"cat": 7, "dog": 2})
    assert "3 to images_for_testing/dog/" in thin and "params set Minimum-Gate-Set-Images-Per-Label 2" in thin
    assert stuck({"cat": 7, "dog": 6}) == []
