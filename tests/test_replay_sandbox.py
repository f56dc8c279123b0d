"""`labelloop replay --failed` on a saved sandbox run: the failed detection is detected again and
the run is saved, so a second replay finds nothing to do."""

from __future__ import annotations

from pathlib import Path

from cli_support import cli_json

from handlers.runtime import context
from sandbox.saved import restore

KEY = "images_for_detection/failed/sandbox.png"
DOC = Path(__file__).resolve().parents[1] / "docs" / "operating.md"


def test_replay_failed_on_a_sandbox_run(capsys, run_copy):
    with restore(run_copy) as (stack, models, _state):
        models.fail_next("DetectCustomLabels", "AccessDeniedException")
        stack.client("s3").put_object(Bucket=stack.bucket, Key=KEY,
                                      Body=stack.client("s3").get_object(
                                          Bucket=stack.bucket, Key=first_image(stack))["Body"].read())
        stack.pump()
        assert [f.key for f in context.table().failed_detections()] == [KEY]
    result = cli_json(capsys, "replay", "--failed", "--sandbox", run_copy)
    assert (result["replayed"], result["detected"], result["failed_again"]) == (1, 1, 0)
    assert result["detections"][0]["outcome"] in ("confident", "to_training", "to_audit")
    text = DOC.read_text()  # the JSON shape is documented, every key
    assert [k for k in [*result, *result["detections"][0]] if f'"{k}"' not in text and f"`{k}`" not in text] == []
    again = cli_json(capsys, "replay", "--failed", "--sandbox", run_copy)  # saved: nothing left to do
    assert again["detections"] == []


def test_nothing_to_replay_is_answered_without_restoring_the_run(capsys, run_copy, monkeypatch):
    def restored(folder):
        raise AssertionError("the run was restored with nothing to replay")

    monkeypatch.setattr("cli.sandbox_target.restore", restored)
    result = cli_json(capsys, "replay", "--failed", "--sandbox", run_copy)
    assert (result["replayed"], result["detections"]) == (0, [])


def first_image(stack) -> str:
    page = stack.client("s3").list_objects_v2(Bucket=stack.bucket, Prefix="images_for_detection/")
    return page["Contents"][0]["Key"]
