import pytest

from cli.tables import format_table

ROWS = [{"name": "Minimum-Label-Detection-Confidence", "value": 70.0, "count": 5,
         "description": "Confidence (0-100) below which a detected image goes to human review."},
        {"name": "Enable-A2I-Workflow", "value": True, "count": 120, "description": None}]


def test_a_table_fits_the_terminal_by_cutting_the_widest_text_column(monkeypatch):
    monkeypatch.setenv("COLUMNS", "70")
    lines = format_table(ROWS, ["name", "value", "count", "description"], right=["count"]).splitlines()
    assert all(len(line) <= 70 for line in lines)
    assert lines[2].startswith("Minimum-Label-Detection-Confidence  70     ")  # the name is left whole
    assert lines[2].endswith("…") and lines[3].endswith("  -")  # the description is cut; None shows as '-'
    assert lines[2].split()[2] == "5" and lines[3].index("120") + 3 == lines[2].index("5") + 1  # numbers right-aligned
    assert lines[3].split()[1] == "yes"


def test_a_table_that_fits_is_not_cut(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    text = format_table(ROWS, ["name", "description"])
    assert "…" not in text and "goes to human review." in text


def test_a_table_written_to_a_file_or_a_pipe_is_whole(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setattr("sys.stdout.isatty", lambda: False)
    wide = [dict(ROWS[0], description=ROWS[0]["description"] * 5)]
    text = format_table(wide, ["name", "value", "count", "description"])
    assert "…" not in text and text.splitlines()[2].endswith("goes to human review.")
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    monkeypatch.setattr("shutil.get_terminal_size", lambda fallback: __import__("os").terminal_size((80, 24)))
    assert "…" in format_table(wide, ["name", "value", "count", "description"])


def test_the_sandbox_log_has_a_line_per_round_and_the_whole_table():
    import io

    from rich.console import Console

    from sandbox.console import SandboxConsole
    from sandbox.runner import RoundRow, SandboxOptions

    out = io.StringIO()
    console = SandboxConsole(Console(file=out, force_terminal=False, width=80))
    console.header(SandboxOptions())
    console.progress("round 1: detecting", 25, 1297)
    console.progress("round 1: detecting", 50, 1297)  # the same phase: no new line
    console.round_done(RoundRow(1, uploaded=163, detected=163, f1=0.912345, training="no: 3 new labelled images "
                                "since the last training; Minimum-Untrained-Images is 10"))
    lines = out.getvalue().splitlines()[3:]  # after the header
    assert lines == ["round 1: detecting (25/1297 images streamed)", lines[1]]
    assert lines[1].startswith("round 1 done: uploaded 163, detected 163, failed 0,") and "f1 0.912" in lines[1]
    table = console.table()
    console.console.print(table)
    assert "0.912" in out.getvalue() and "Minimum-Untrained-Images is 10" in out.getvalue()


def rounds():
    from sandbox.runner import RoundRow

    return [RoundRow(0, training="v1", f1=0.692, holdout_f1=0.745, deployed="yes"),
            RoundRow(1, uploaded=55, detected=55, to_review=30, review_reasons="training 30", accepted=15, training="v2",
                     f1=0.766, holdout_f1=0.818, deployed="no: label 'digit-3' F1 drops by 0.152, more than "
                                                          "Champion-Max-Label-F1-Drop 0.05"),
            RoundRow(2, uploaded=55, detected=54, failed=1, to_review=30, review_reasons="training 30", accepted=15,
                     training="no: 3 new labelled images since the last training; Minimum-Untrained-Images is 10")]


@pytest.mark.parametrize("width", [80, 100, 120])
def test_the_sandbox_table_on_a_terminal_fits_it_with_every_number_whole(width):
    import io

    from rich.console import Console

    from sandbox.console import SandboxConsole

    out = io.StringIO()
    console = SandboxConsole(Console(file=out, width=width, force_terminal=True, color_system=None))
    console.rows = rounds()
    console.console.print(console.table())
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= width
    for number in ("0.692", "0.745", "0.766", "0.818", " 30 ", " 15 "):
        assert number in text, text
    shown = [title for _, title in console.columns()]
    assert {"Round", "Reviews", "Accepted", "Training", "F1", "Holdout F1", "Deployed"} <= set(shown)
    if len(shown) < 12:  # columns of zeros are left out first; one with a failure only after Why and Detected
        assert "Pending" not in shown and ("Failed" in shown or not {"Why", "Detected"} & set(shown))
    if width == 80:
        assert "Left out to fit the terminal: Uploaded, Detected, Failed, Pending, Why" in " ".join(text.split())


def test_the_sandbox_header_names_the_review_backend_the_start_and_what_each_policy_does():
    from sandbox.console import header_lines
    from sandbox.runner import SandboxOptions

    lines = header_lines(SandboxOptions(seed_per_label=3, gate_set_per_label=10, review_budget=15,
                                        policies=("policies.champion_challenger",),
                                        parameters={"Minimum-F1-Score": "0.5"}))
    assert "simulated reviewers answering in labelloop's review app" in lines[0] and "A2I" not in lines[0]
    assert "starts from 3 labelled images per label (a cold start) · gate set 10 per label · 15 answers a round" \
        in lines[1]
    assert lines[2].startswith("policy policies.champion_challenger: Champion/challenger deployment: a new "
                               "version replaces the running one only if it is clearly better")
    assert lines[3] == "parameters changed from the stack's defaults: Minimum-F1-Score=0.5"
    a2i = header_lines(SandboxOptions(review="a2i"))
    assert "the A2I stand-in" in a2i[0] and "review app" not in a2i[0]
    assert "cold start" not in a2i[1] and a2i[2] == "policies: the defaults only (the original sample's behaviour)"
