"""Shared pieces of the CLI: the app, consoles, progress bars."""

from __future__ import annotations

from contextlib import contextmanager

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

app = typer.Typer(
    name="sapphire",
    help="SAPPHIRE: perceptual, multi-modal music similarity search.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(soft_wrap=True)
# soft_wrap: error messages carry paths and key lists that must stay copyable, not folded.
err_console = Console(stderr=True, soft_wrap=True)


@contextmanager
def progress_bar(description: str, total: int):
    """A rich progress bar; yields ``advance(n=1)``. Quiet when stdout is not a terminal."""
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TimeRemainingColumn(), console=err_console, transient=False, disable=not err_console.is_terminal,
    )
    with progress:
        task = progress.add_task(description, total=total)
        yield lambda n=1: progress.advance(task, n)


def print_table(title: str, header: list[str], rows: list[list[str]], *, out: Console | None = None) -> None:
    """Print a table that reads anywhere, nothing cut to fit.

    As a rich table when it fits the output's width; else transposed (one column per row, one line
    per header) when that fits; else as a Markdown table, whose long lines wrap but keep every cell.
    Pipes and CI logs are 80 columns wide unless ``COLUMNS`` says otherwise.
    """
    from rich.markup import escape
    from rich.measure import Measurement
    from rich.table import Table

    out = out or console

    def rich_table(head: list[str], body: list[list[str]]) -> Table:
        table = Table(title=escape(title))  # figures and names are data, never markup
        for i, h in enumerate(head):
            table.add_column(escape(h), justify="left" if i == 0 else "right", no_wrap=True)
        for row in body:
            table.add_row(*map(escape, row))
        return table

    transposed = [[h, *(row[i] for row in rows)] for i, h in enumerate(header)][1:]
    turned = ["", *(row[0] for row in rows)]
    for head, body in ((header, rows), (turned, transposed)):
        table = rich_table(head, body)
        if Measurement.get(out, out.options.update_width(10**6), table).maximum <= out.width:  # natural width
            out.print(table)
            return
    head, body = (header, rows) if len(header) <= len(rows) + 1 else (turned, transposed)
    lines = [f"**{title}**", "", "| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    out.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)

