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
