"""What the sandbox shows on the terminal: a progress bar, the round table as it
grows, and a closing summary."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .report import COLUMNS, cell, summary_lines
from .runner import RoundRow, SandboxOptions, SandboxResult

COLD_START = 5  # labelled images per label a run may start from and still be called cold
SHORT = {"training": 56, "deployed": 44, "review_reasons": 24}  # text columns: cut to fit, on a terminal
# Left out, in this order, when a terminal is too narrow for every column with its numbers whole.
LEFT_OUT_FIRST = ("uploaded", "review_reasons", "detected", "failed", "pending")


REVIEWERS = {"builtin": "simulated reviewers answering in labelloop's review app",
             "a2i": "simulated reviewers answering the A2I stand-in's human loops",
             "labelstudio": "simulated annotators answering in a local Label Studio"}


def header_lines(options: SandboxOptions) -> list[str]:
    """What the run is: what stands in for AWS, its size and start, the policies switched on (each with
    what it does) and the parameters changed from the stack's defaults."""
    start = f"{options.seed_per_label} labelled images per label" + \
        (" (a cold start)" if options.seed_per_label <= COLD_START else "")
    figures = [f"seed {options.seed}", f"rounds {options.rounds}", f"images {options.images or 'all'}",
               f"starts from {start}"]
    if options.gate_set_per_label:
        figures.append(f"gate set {options.gate_set_per_label} per label")
    if options.review_budget is not None:
        figures.append(f"{options.review_budget} answers a round")
    rates = ", ".join(f"{r:.0%}" for r in options.error_rates)
    figures.append(f"reviewer error rate{'s' * (len(options.error_rates) > 1)} {rates}")
    lines = [f"[bold]labelloop sandbox[/] — the whole loop on this machine: moto for AWS, a local Rekognition "
             f"Custom Labels, {REVIEWERS[options.review]}, the real handlers and state machines",
             " · ".join(figures)]
    lines += [f"policy {name}: {summary}" for name, summary in policy_summaries(options.policies)] or \
        ["policies: the defaults only (the original sample's behaviour)"]
    if options.parameters:
        lines.append("parameters changed from the stack's defaults: "
                     + ", ".join(f"{name}={value}" for name, value in options.parameters.items()))
    return lines


def policy_summaries(modules) -> list[tuple[str, str]]:
    """Each policy module with the first paragraph of its docstring (what it does)."""
    found = []
    for name in modules:
        doc = inspect.getdoc(importlib.import_module(name)) or ""
        found.append((name, " ".join(doc.split("\n\n", 1)[0].split()) or "a team policy"))
    return found


class SandboxConsole:
    """On a terminal, a live table and progress bar; elsewhere (a CI log, ``> log``) a line per phase and
    per round as they happen, and the whole table at the end, nothing cut."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console()
        self.live_view = self.console.is_terminal
        if not self.live_view:  # a log or a pipe: room for the whole table
            self.console.width = max(self.console.width, 1000)
        self.rows: list[RoundRow] = []
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=self.console, transient=True)
        self.task = self.bar.add_task("starting", total=None)
        self.live: Live | None = None
        self.phase = ""

    def header(self, options: SandboxOptions) -> None:
        for line in header_lines(options):
            self.console.print(line, highlight=False)
        if self.live_view:
            self.live = Live(self._render(), console=self.console, refresh_per_second=4, transient=True)
            self.live.start()

    def note(self, text: str) -> None:
        self.console.print(text)

    def table(self) -> Table:
        columns = self.columns()
        widths = self._widths(columns)
        table = Table(title="Rounds", title_justify="left", show_lines=False, box=box.SIMPLE_HEAD,
                      caption=self._left_out(columns), caption_justify="left")
        for key, title in columns:
            table.add_column(title, justify="left" if key in SHORT else "right", overflow="ellipsis", no_wrap=True,
                             width=widths.get(key))
        for row in self.rows:
            table.add_row(*[cell(row, key) for key, _ in columns])
        return table

    def columns(self) -> list[tuple[str, str]]:
        """The columns shown: all of them, unless the terminal is too narrow for every number whole — then
        the least needed are left out (columns of zeros first), and text columns are cut instead."""
        columns = list(COLUMNS)
        if not self.live_view:
            return columns
        zeros = [key for key in ("failed", "pending") if not any(getattr(row, key) for row in self.rows)]
        for key in zeros + [k for k in LEFT_OUT_FIRST if k not in zeros]:
            if self._needed(columns) <= self.console.width:
                break
            columns = [c for c in columns if c[0] != key]
        return columns

    def _width(self, key: str, title: str) -> int:
        return max([len(title)] + [len(cell(row, key)) for row in self.rows])

    def _needed(self, columns: list[tuple[str, str]]) -> int:
        """The width of a table of these columns with every number whole and each text column at its title."""
        return sum(len(title) if key in SHORT else self._width(key, title) for key, title in columns) + \
            3 * len(columns) + 1

    def _widths(self, columns: list[tuple[str, str]]) -> dict[str, int]:
        """On a terminal, each column's width: numbers whole, the room left shared by the text columns (none
        wider than its text or its SHORT limit); elsewhere, as wide as their text."""
        if not self.live_view:
            return {}
        widths = {key: self._width(key, title) for key, title in columns if key not in SHORT}
        titles = {key: len(title) for key, title in columns if key in SHORT}
        wanted = {key: max(titles[key], min(self._width(key, title), SHORT[key])) - titles[key]
                  for key, title in columns if key in SHORT}
        extra = self.console.width - sum(widths.values()) - sum(titles.values()) - 3 * len(columns) - 1
        for left, key in enumerate(sorted(wanted, key=wanted.get)):  # the least wanting first: what it leaves
            given = max(0, min(wanted[key], extra // (len(wanted) - left)))  # goes to the others
            widths[key], extra = titles[key] + given, extra - given
        return widths

    def _left_out(self, columns: list[tuple[str, str]]) -> str | None:
        gone = [title for key, title in COLUMNS if (key, title) not in columns]
        return f"Left out to fit the terminal: {', '.join(gone)} (the report has every column)" if gone else None

    def _render(self):
        return Group(self.table(), self.bar)

    def progress(self, phase: str, done: int, total: int) -> None:
        self.bar.update(self.task, description=phase, completed=done, total=total or None)
        if self.live:
            self.live.update(self._render())
        elif phase != self.phase:
            self.console.print(f"{phase} ({done}/{total} images streamed)")
        self.phase = phase

    def round_done(self, row: RoundRow) -> None:
        self.rows.append(row)
        if self.live:
            self.live.update(self._render())
        else:
            self.console.print(f"round {row.round} done: " + ", ".join(
                f"{title.lower()} {cell(row, key)}" for key, title in COLUMNS if key != "round"))

    def finish(self, result: SandboxResult) -> None:
        if self.live:
            self.live.stop()
        self.console.print(self.table())
        for line in summary_lines(result):
            self.console.print(line)

    def report(self, paths: list[Path]) -> None:
        self.console.print(f"Report: {paths[0]} (plots and saved state beside it)")
