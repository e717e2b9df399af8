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
