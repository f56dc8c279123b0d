"""The sandbox report's plots, read back from their figures, and `params list` on a narrow terminal."""

from __future__ import annotations

from cli.main import main
from sandbox.runner import RoundRow, SandboxOptions, SandboxResult
from sandbox.report import f1_figure, reviews_figure


def _result() -> SandboxResult:
    rows = [RoundRow(0, accepted=0), RoundRow(1, to_review=12, reviews_by={"training": 9, "audit": 3}, accepted=11),
            RoundRow(2, to_review=5, reviews_by={"training": 5}, accepted=5)]
    versions = {"v1": {"f1": 0.93, "holdout_f1": 0.931, "deployed": True},
                "v2": {"f1": 0.94, "holdout_f1": 0.937, "deployed": False}}
    return SandboxResult(SandboxOptions(out=None), rows, versions, "v1", "v1", detections=17, reviews_started=17,
                         reviews_accepted=16, wrong_answers=0, detection_seconds=1.0, wall_seconds=2.0,
                         peak_memory_mb=1.0, confidences=[], accepted_labels=[])


def test_the_f1_plot_starts_at_zero_and_writes_each_holdout_f1():
    ax = f1_figure(_result()).axes[0]
    assert ax.get_ylim() == (0.0, 1.02)  # close F1s are not stretched across the plot
    assert [list(line.get_ydata()) for line in ax.lines] == [[0.93, 0.94], [0.931, 0.937]]
    assert [t.get_text() for t in ax.texts] == ["0.931, deployed", "0.937"]


def test_the_reviews_plot_splits_each_round_by_the_policy_that_started_the_reviews():
    ax = reviews_figure(_result()).axes[0]
    bars = {c.get_label(): [p.get_height() for p in c.patches] for c in ax.containers}
    assert bars == {"audit": [0, 3, 0], "training": [0, 9, 5]}
    assert list(ax.lines[0].get_ydata()) == [0, 11, 5] and ax.lines[0].get_label() == "accepted into training data"


def test_params_list_fits_80_columns_with_whole_names_and_descriptions(capsys, monkeypatch, saved_run):
    monkeypatch.setenv("COLUMNS", "80")
    capsys.readouterr()
    assert main(["params", "list", "--sandbox", str(saved_run)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Parameters of sandbox") and max(map(len, lines[1:])) <= 80  # the title holds a path
    text = " ".join(line.strip() for line in lines)
    assert "Human review (in the review app, or Amazon A2I) on or off: off, no review opens" in text  # wrapped, whole
    assert any(line.startswith("Minimum-Label-Detection-Confidence ") for line in lines) and "…" not in text
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["params", "list", "--sandbox", str(saved_run), "--json"]) == 0
    assert '"description": "Human review (in the review app, or Amazon A2I) on or off' in capsys.readouterr().out
