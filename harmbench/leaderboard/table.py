"""Leaderboard tables as data, and their Markdown rendering.

A leaderboard file is a :class:`Document`: a sequence of blocks (:class:`Heading`,
:class:`Paragraph`, :class:`Bullets`, :class:`Table`). The same objects are rendered three ways:
to Markdown here (:func:`to_markdown`, the committed ``table*.md`` files), to HTML through the
Jinja2 templates of :mod:`harmbench.leaderboard.report`, and to the terminal through
:func:`harmbench.console.rich_table`. No rendering parses another's output.

A :class:`Cell` keeps the number it shows (``value``) next to its display text, and flags
(``bold``) that each renderer expresses in its own way (``**x**``, ``<b>``, a bold rich style). A
:class:`Row` says whether it is a reference row (original FU, same-scanner FU2) or a run that is
"≈ identity"; a :class:`Column` carries the same flags when runs are columns (the CNR table).

Text is plain: run names such as ``m[a=<b>]`` are never markup in any rendering. Inline styling
is explicit, as :class:`Span` objects (``"bold"``, ``"code"``, ``"em"``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Union

#: the inline styles a :class:`Span` may carry and their Markdown delimiters
MARKDOWN_STYLES = {"": "", "bold": "**", "code": "`", "em": "_"}


@dataclass(frozen=True)
class Span:
    """A run of inline text with one style: ``""`` (plain), ``"bold"``, ``"code"`` or ``"em"``."""

    text: str
    style: str = ""

    def __post_init__(self) -> None:
        if self.style not in MARKDOWN_STYLES:
            raise ValueError(f"span style {self.style!r} is not one of {sorted(MARKDOWN_STYLES)}")


#: what :func:`spans` accepts: a plain string or a ``(text, style)`` pair (as in harmbench.console)
SpanLike = Union[str, Span, tuple[str, str]]


def spans(*parts: SpanLike) -> tuple[Span, ...]:
    """Inline text from plain strings and ``(text, style)`` pairs: ``spans("a ", ("b", "bold"))``."""
    out = []
    for p in parts:
        out.append(p if isinstance(p, Span) else Span(p) if isinstance(p, str) else Span(*p))
    return tuple(s for s in out if s.text)


@dataclass(frozen=True)
class Cell:
    """One table cell: the text shown, the number behind it (None for text cells), and flags.

    Attributes:
        text: display text, e.g. ``"0.872 ± 0.006"`` (``""`` for an empty cell).
        value: the number the text shows (a mean, a P value, a rate), for sorting and plotting.
        bold: the best run of its column by the leaderboard's bolding rule.
    """

    text: str
    value: float | None = None
    bold: bool = False


def as_cells(cells: Iterable[Cell | str]) -> tuple[Cell, ...]:
    """Cells from cells and strings (a string is a text cell without a value)."""
    return tuple(c if isinstance(c, Cell) else Cell(c) for c in cells)


@dataclass(frozen=True)
class Column:
    """A column header; ``reference`` / ``near_identity`` when the column is a run (CNR table)."""

    name: str
    reference: bool = False
    near_identity: bool = False


@dataclass(frozen=True)
class Row:
    """A table row; the first cell is its label (usually the run)."""

    cells: tuple[Cell, ...]
    reference: bool = False
    near_identity: bool = False


@dataclass(frozen=True)
class Heading:
    kind: ClassVar[str] = "heading"
    text: str
    level: int = 1


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of inline spans; ``quote`` for a caveat set apart (Markdown ``>``)."""

    kind: ClassVar[str] = "paragraph"
    spans: tuple[Span, ...]
    quote: bool = False


@dataclass(frozen=True)
class Bullets:
    kind: ClassVar[str] = "bullets"
    items: tuple[tuple[Span, ...], ...]


@dataclass
class Table:
    """Rows of cells under named columns, with an optional title (caption) and notes under it.

    Attributes:
        columns: the header, one per cell of every row.
        rows: the body; each row has ``len(columns)`` cells.
        title: caption shown above the table (Markdown: a paragraph; HTML: ``<caption>``).
        notes: paragraphs that belong to the table, shown under it.
    """

    kind: ClassVar[str] = "table"
    columns: tuple[Column, ...]
    rows: list[Row] = field(default_factory=list)
    title: str = ""
    notes: tuple[tuple[Span, ...], ...] = ()

    def __post_init__(self) -> None:
        self.columns = tuple(c if isinstance(c, Column) else Column(c) for c in self.columns)
        for row in self.rows:
            self._check(row)

    def _check(self, row: Row) -> None:
        if len(row.cells) != len(self.columns):
            raise ValueError(f"row {row.cells[0].text if row.cells else ''!r} has {len(row.cells)} cells; "
                             f"the table has {len(self.columns)} columns")

    def add(self, row: Row | Iterable[Cell | str], *, reference: bool = False, near_identity: bool = False) -> Row:
        """Append a row (or a row made of ``cells``, strings becoming plain cells) and return it."""
        if not isinstance(row, Row):
            row = Row(as_cells(row), reference, near_identity)
        self._check(row)
        self.rows.append(row)
        return row


Block = Union[Heading, Paragraph, Bullets, Table]


@dataclass
class Document:
    """One leaderboard file (``table3-volumewise-testA.md``): its blocks in order."""

    blocks: list[Block] = field(default_factory=list)

    @property
    def title(self) -> str:
        return next((b.text for b in self.blocks if isinstance(b, Heading)), "")

    def tables(self) -> list[Table]:
        return [b for b in self.blocks if isinstance(b, Table)]


# -- Markdown -------------------------------------------------------------------------------------


def inline_markdown(text: Sequence[Span]) -> str:
    return "".join(f"{MARKDOWN_STYLES[s.style]}{s.text}{MARKDOWN_STYLES[s.style]}" for s in text)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")  # a pipe would end the cell


def _md_row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def table_markdown(table: Table) -> str:
    lines = [inline_markdown(spans(table.title)), ""] if table.title else []
    lines += [_md_row(_md_cell(c.name) for c in table.columns), "|" + "---|" * len(table.columns)]
    for row in table.rows:
        lines.append(_md_row(f"**{_md_cell(c.text)}**" if c.bold and c.text else _md_cell(c.text)
                             for c in row.cells))
    text = "\n".join(lines)
    return "\n\n".join([text, *(inline_markdown(n) for n in table.notes)])


def block_markdown(block: Block) -> str:
    if isinstance(block, Heading):
        return "#" * block.level + " " + block.text
    if isinstance(block, Paragraph):
        return ("> " if block.quote else "") + inline_markdown(block.spans)
    if isinstance(block, Bullets):
        return "\n".join("- " + inline_markdown(item) for item in block.items)
    return table_markdown(block)


def to_markdown(*blocks: Block | Document | Sequence[Block]) -> str:
    """Markdown of documents, blocks or lists of blocks: blocks separated by a blank line."""
    flat: list[Block] = []
    for b in blocks:
        flat += b.blocks if isinstance(b, Document) else list(b) if isinstance(b, (list, tuple)) else [b]
    return "\n\n".join(block_markdown(b) for b in flat) + "\n"
