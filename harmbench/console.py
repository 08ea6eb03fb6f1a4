"""All terminal output goes through here (rich): one console for results, one for messages."""

from __future__ import annotations

import os
import sys

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console()
err_console = Console(stderr=True)


def quiet() -> bool:
    return os.environ.get("HARMBENCH_QUIET", "") == "1"


def progress(transient: bool = False) -> Progress:
    """A progress display for multi-step work; disabled (silent) when not a terminal or quiet."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=transient,
        disable=quiet() or not sys.stderr.isatty() and os.environ.get("HARMBENCH_PROGRESS") != "1",
    )


def info(msg: str) -> None:
    if not quiet():
        err_console.print(msg, highlight=False)


def error_line(msg: str) -> None:
    """Print a one-line error to stderr (newlines folded)."""
    err_console.print(f"[bold red]error:[/] {' '.join(str(msg).split())}", highlight=False, soft_wrap=True)
