"""Tables of every listing command: never cut an id, a name or a hash.

A run id, a model name or a sha256 is what the user types or compares next, so a
table may wrap a cell but never elide it. When stdout is not a terminal (a pipe,
a file, a test) there is no width to fit: the rows are printed as tab-separated
lines, header first, one record per line, so `cut`, `awk` and `grep` see whole
values. On a terminal, rich draws the table and folds what does not fit.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Literal, Sequence, Union

from rich.console import Console
from rich.table import Table
from rich.text import Text

# A cell is plain text (printed literally: never read as rich markup) or a styled Text.
Cell = Union[str, Text]


@dataclass(frozen=True)
class Column:
    """A column's header and alignment; every column folds on a terminal."""

    header: str
    justify: Literal["left", "right"] = "left"


def _column(spec: str | Column) -> Column:
    return spec if isinstance(spec, Column) else Column(spec)


def _plain(cell: Cell) -> str:
    """One line per record: a cell's own line breaks and tabs become separators."""
    text = cell.plain if isinstance(cell, Text) else str(cell)
    return "; ".join(part.strip() for part in text.splitlines() if part.strip()).replace(
        "\t", " ")


def _rich(cell: Cell) -> Text:
    return cell if isinstance(cell, Text) else Text(str(cell))


def print_table(console: Console, columns: Sequence[str | Column],
                rows: Iterable[Sequence[Cell]], *, title: str | None = None,
                show_header: bool = True) -> None:
    """Rows as a folding rich table on a terminal, else as tab-separated lines.

    The title is drawn on a terminal only: piped output is data, header then rows."""
    specs = [_column(c) for c in columns]
    if not console.is_terminal:
        # Written to the file itself: rich would expand the tabs into spaces.
        lines = ["\t".join(c.header for c in specs)] if show_header else []
        lines += ["\t".join(_plain(cell) for cell in row) for row in rows]
        console.file.write("".join(line + "\n" for line in lines))
        console.file.flush()
        return
    # A key/value view (no header) is drawn without rules, like plain aligned lines.
    table = Table(title=title, show_header=show_header, **({} if show_header else {"box": None}))
    for spec in specs:
        table.add_column(spec.header, justify=spec.justify, overflow="fold")
    for row in rows:
        table.add_row(*(_rich(cell) for cell in row))
    console.print(table)
