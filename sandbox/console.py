"""What the sandbox shows on the terminal: a progress bar, the round table as it
grows, and a closing summary."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .report import COLUMNS, cell, summary_lines
from .runner import RoundRow, SandboxOptions, SandboxResult

SHORT = {"training": 56, "deployed": 44, "review_reasons": 24}


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
        self.console.print("[bold]labelloop sandbox[/] — the whole loop on this machine: moto for AWS, "
                           "a local Rekognition Custom Labels and A2I workforce, real handlers and state machines")
        self.console.print(f"seed {options.seed} · rounds {options.rounds} · images {options.images or 'all'} · "
                           f"reviewer error rate {options.error_rate:.0%} · "
                           f"policies {', '.join(options.policies) or 'defaults'}"
                           + (f" · parameters {options.parameters}" if options.parameters else ""))
        if self.live_view:
            self.live = Live(self._render(), console=self.console, refresh_per_second=4, transient=True)
            self.live.start()

    def note(self, text: str) -> None:
        self.console.print(text)

    def table(self) -> Table:
        table = Table(title="Rounds", title_justify="left", show_lines=False)
        for key, title in COLUMNS:
            table.add_column(title, justify="right" if key not in SHORT else "left", overflow="ellipsis",
                             no_wrap=True, max_width=SHORT.get(key) if self.live_view else None)
        for row in self.rows:
            table.add_row(*[cell(row, key) for key, _ in COLUMNS])
        return table

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
