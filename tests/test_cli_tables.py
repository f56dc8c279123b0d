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
    lines = out.getvalue().splitlines()
    assert lines[2:] == ["round 1: detecting (25/1297 images streamed)", lines[3]]
    assert lines[3].startswith("round 1 done: uploaded 163, detected 163, failed 0,") and "f1 0.912" in lines[3]
    table = console.table()
    console.console.print(table)
    assert "0.912" in out.getvalue() and "Minimum-Untrained-Images is 10" in out.getvalue()
