"""A saved run's report after `labelloop train` and `labelloop rollback`: the new version scored on the run's
holdout images, the active model's scores measured again, the report and plots written again."""

from __future__ import annotations

import json

from cli_support import cli
from sklearn.metrics import f1_score

from handlers.runtime import layout
from sandbox import saved
from sandbox.dataset import load_digits_samples
from sandbox.report_data import FILE, load

NEW_IMAGES = 30  # labelled images added to the run: enough for a training check to train


def _add_training_images(folder) -> None:
    """As if people had labelled more images since the run (the check trains on what is new)."""
    with saved.restore(folder) as (stack, _, _):
        s3 = stack.client("s3")
        for sample in load_digits_samples()[-NEW_IMAGES:]:
            s3.put_object(Bucket=stack.bucket, Key=f"{layout.TRAINING_PREFIX}{sample.label}/extra-{sample.name}",
                          Body=sample.png())
        stack.pump()


def test_train_and_rollback_bring_the_report_up_to_date(capsys, run_copy):
    before = load(run_copy)
    assert before is not None and len(before.holdout_images) == 60 and not (run_copy / "report.md").exists()
    old_active = before.final_active
    _add_training_images(run_copy)

    code, out, err = cli(capsys, "train", "--sandbox", run_copy, "--json")
    assert code == 0, err
    new = json.loads(out)["check"]["version"]
    assert new not in before.versions
    assert err.splitlines()[-1] == (f"Bringing the report in {run_copy} up to date (the models scored on the run's "
                                    "60 holdout images)…")
    after = load(run_copy)
    figures = after.versions[new]
    # the new version's holdout F1, measured again here from its saved model on the same images
    model = saved.saved_versions(run_copy)[new].model
    samples = load_digits_samples()
    holdout = [samples[i] for i in after.holdout_images]
    expected = f1_score([s.label for s in holdout], model.predict([s.features() / 16.0 for s in holdout]),
                        average="macro")
    assert abs(figures["holdout_f1"] - expected) < 1e-9 and figures["deployed"] is True
    assert after.final_active == new and after.final_scores.version == new
    report = (run_copy / "report.md").read_text()
    assert f"→ {new} (holdout F1 {expected:.3f})" in report
    assert f"{new} trained, F1 {figures['f1']:.3f}, holdout F1 {expected:.3f}; deployed" in report
    assert f"active model {old_active} → {new}" in report and f"## Final model {new} on the holdout images" in report
    assert all((run_copy / name).stat().st_size > 0
               for name in ("f1_per_version.png", "reviews_per_round.png", "confidence.png"))

    code, _, err = cli(capsys, "rollback", "--yes", "--sandbox", run_copy)
    assert code == 0, err
    after = load(run_copy)
    assert after.final_active == old_active and after.final_scores.version == old_active
    report = (run_copy / "report.md").read_text()
    assert f"active model {new} → {old_active}" in report
    assert f"## Final model {old_active} on the holdout images" in report


def test_a_train_that_trains_nothing_leaves_the_report_as_it_was(capsys, run_copy):
    data = (run_copy / FILE).read_text()
    code, _, err = cli(capsys, "train", "--sandbox", run_copy)
    assert code == 0 and "Bringing the report" not in err
    assert (run_copy / FILE).read_text() == data and not (run_copy / "report.md").exists()
