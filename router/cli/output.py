"""How commands print: ``--json`` for scripts, and tables whose ids are never cut (they are meant to be copied)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Column

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table (for scripts and jq).")]


def echo_json(data: Any, *, lines: bool = False) -> None:
    """``data`` as JSON on stdout: indented, or one line (``lines``: JSON Lines, for a stream of records)."""
    typer.echo(json.dumps(data, indent=None if lines else 2, ensure_ascii=False))


def id_column(header: str = "id") -> Column:
    """A column that keeps every id whole: Rich narrows and folds the other columns of a narrow terminal instead
    of ellipsising this one, and a table wider than the terminal wraps past its edge rather than cut an id."""
    return Column(header, no_wrap=True, overflow="ignore", min_width=len(header))


def text_column(header: str) -> Column:
    """Any other column: folded onto more lines in a narrow terminal, never cut with an ellipsis."""
    return Column(header, overflow="fold")
