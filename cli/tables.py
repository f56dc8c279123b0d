"""Aligned plain-text tables that fit a terminal; written to a file or a pipe (a CI log, ``> log``),
they are whole."""

from __future__ import annotations

import os
import shutil
import sys
from typing import Iterable, Mapping, Sequence

MIN_WIDTH = 12  # a text column is never cut narrower than this (or its header)


def format_table(rows: Iterable[Mapping], columns: Sequence[str], headers: Sequence[str] | None = None,
                 right: Sequence[str] = (), whole: Sequence[str] = ()) -> str:
    """Rows as aligned text; ``right`` names the columns to right-align (numbers), ``whole`` those never cut."""
    rows = list(rows)
    headers = list(headers or [c.replace("_", " ") for c in columns])
    cells = [[_text(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    overflow = sum(widths) + 2 * (len(widths) - 1) - room()
    if overflow > 0:  # cut the widest text column first (down to a floor), then the next, with an ellipsis
        floors = [w if c in whole else len(h) if c in right else max(len(h), MIN_WIDTH)
                  for w, h, c in zip(widths, headers, columns)]
        for i in sorted(range(len(widths)), key=lambda i: -widths[i]):
            cut = min(overflow, max(0, widths[i] - floors[i]))
            widths[i] -= cut
            overflow -= cut
        cells = [[_cut(c, widths[i]) for i, c in enumerate(r)] for r in cells]
    flush = [c in right for c in columns]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, flush)).rstrip()

    lines = [line(headers), "  ".join("-" * w for w in widths)]
    lines += [line(r) for r in cells]
    return "\n".join(lines)


def room() -> float:
    """The width to fit: the terminal's (or $COLUMNS), unlimited when the output is not a terminal."""
    if "COLUMNS" not in os.environ and not sys.stdout.isatty():
        return float("inf")
    return shutil.get_terminal_size((120, 24)).columns


def print_table(rows: Iterable[Mapping], columns: Sequence[str], headers: Sequence[str] | None = None,
                right: Sequence[str] = (), whole: Sequence[str] = ()) -> None:
    print(format_table(rows, columns, headers, right, whole))


def _text(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if value % 1 else f"{value:.0f}"
    return str(value)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def print_json(data) -> None:
    """JSON for scripts: indented, UTF-8 as is (no \\u escapes)."""
    import json

    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
