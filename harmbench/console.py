"""All terminal output goes through here (rich): one console for results, one for messages.

User text is never rich markup. File names such as ``scan[fu].nii.gz``, run names such as
``nyul[n_landmarks=11]``, manifest cells and exception messages all contain square brackets,
which rich would read as style tags (dropping them, or raising ``MarkupError`` for ``[/]``).
So every helper here takes *parts*: a plain string is printed literally, and styling is a
separate ``(text, style)`` tuple, as in :meth:`rich.text.Text.assemble`::

    say(("skipped", "yellow"), f" {name}: {reason}")

Table cells and titles built from data go through :func:`cell`. Code that prints a string
with ``console.print`` directly must escape data with :func:`rich.markup.escape`.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Union

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
from rich.table import Table as RichTable
from rich.text import Text

if TYPE_CHECKING:
    from harmbench.leaderboard.table import Table

console = Console()
err_console = Console(stderr=True)

#: plain text (printed literally) or ``(text, style)``
Part = Union[str, Text, tuple[str, str]]


def quiet() -> bool:
    return os.environ.get("HARMBENCH_QUIET", "") == "1"


def progress(transient: bool = False) -> Progress:
    """A progress display for multi-step work; disabled (silent) when not a terminal or quiet.

    Task descriptions are plain text (they often hold run or file names), never markup.
    """
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", style="bold", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=transient,
        disable=quiet() or not sys.stderr.isatty() and os.environ.get("HARMBENCH_PROGRESS") != "1",
    )


def line(*parts: Part) -> Text:
    """One line of text from literal strings and ``(text, style)`` tuples; nothing is parsed."""
    return Text.assemble(*(str(p) if not isinstance(p, (str, Text, tuple)) else p for p in parts))


def cell(value: object, style: str = "") -> Text:
    """A table cell or title from data (``m[lam=5]`` stays ``m[lam=5]``)."""
    return Text(str(value), style=style)


def say(*parts: Part) -> None:
    """A result line on stdout."""
    console.print(line(*parts), soft_wrap=True)


def info(*parts: Part) -> None:
    """A progress note on stderr (silent when ``HARMBENCH_QUIET=1``)."""
    if not quiet():
        err_console.print(line(*parts), soft_wrap=True)


def warn(msg: str) -> None:
    """``warning: msg`` on stderr, one line (shown even when quiet)."""
    _labelled("warning:", "bold yellow", msg)


def problem(msg: str) -> None:
    """``problem: msg`` on stderr, one line (``datasets validate`` prints one per problem)."""
    _labelled("problem:", "red", msg)


def error_line(msg: object) -> None:
    """Print a one-line error to stderr (newlines folded)."""
    _labelled("error:", "bold red", msg)


def _labelled(label: str, style: str, msg: object) -> None:
    err_console.print(line((label, style), " ", " ".join(str(msg).split())), soft_wrap=True)


#: rich styles of the leaderboard table flags (harmbench.leaderboard.table)
BOLD_STYLE = "bold"
REFERENCE_STYLE = "italic"
NEAR_IDENTITY_STYLE = "dim"


def rich_table(table: Table) -> RichTable:
    """The terminal rendering of a leaderboard :class:`~harmbench.leaderboard.table.Table`.

    Bold cells are bold, reference rows italic, "≈ identity" rows dim; all text is literal (a run
    named ``m[a=<b>]`` shows as such). Columns holding numbers are right-aligned. The title is the
    table's, the notes its caption.
    """
    notes: list[Part] = []
    for note in table.notes:
        notes += ["\n"] * bool(notes) + [(s.text, BOLD_STYLE if s.style == "bold" else "") for s in note]
    out = RichTable(title=cell(table.title) if table.title else None, caption=line(*notes) if notes else None)
    for i, col in enumerate(table.columns):
        numeric = any(row.cells[i].value is not None for row in table.rows)
        out.add_column(cell(col.name, _flag_style(col.reference, col.near_identity)),
                       justify="right" if numeric else "left")
    for row in table.rows:
        out.add_row(*(cell(c.text, BOLD_STYLE if c.bold else "") for c in row.cells),
                    style=_flag_style(row.reference, row.near_identity) or None)
    return out


def _flag_style(reference: bool, near_identity: bool) -> str:
    return NEAR_IDENTITY_STYLE if near_identity else REFERENCE_STYLE if reference else ""
