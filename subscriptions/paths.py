"""Path expressions: a small JSONPath subset that picks one value out of an inbound request.

Custom webhook definitions use them to find the tenant (event routing), the event type, the values a
setup handshake hands over (``persist``) and the pieces of a configured response. They are parsed once,
when the definition is validated, and evaluated per request by walking plain data: never ``eval``.

Grammar::

    path     := "$" "." root step*
    root     := "body" | "headers" | "query"
    step     := "." name | "[" index "]" | "[" quoted "]"
    name     := one or more of A-Z a-z 0-9 _ -
    index    := one or more digits (a list position, from 0)
    quoted   := "'" text "'" | '"' text '"'     (backslash escapes the quote and itself)

Examples: ``$.body.team.id``, ``$.body.items[0].id``, ``$.headers['x-shop']``, ``$.query.id``,
``$.body['order.created'].id`` (a key that holds a dot).

Evaluation runs against ``{"body": ..., "headers": ..., "query": ...}``: ``body`` is the parsed JSON
(or the form fields of a form-encoded body), ``headers`` and ``query`` are string mappings. Header
names are matched case-insensitively and a header or query path takes exactly one step. A missing
key, an index out of range or a step into a scalar gives ``None``; evaluation never raises.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ROOTS = ("body", "headers", "query")
MAX_LENGTH = 512
MAX_STEPS = 32
MAX_INDEX = 1_000_000
_NAME = re.compile(r"[A-Za-z0-9_-]+")
_DIGITS = re.compile(r"[0-9]+")

Step = str | int


@dataclass(frozen=True, slots=True)
class Path:
    """A parsed path expression: its source text, its root and the steps below the root."""

    text: str
    root: str
    steps: tuple[Step, ...]

    def __str__(self) -> str:
        return self.text


def _fail(text: str, position: int, problem: str) -> ValueError:
    return ValueError(f"invalid path {text!r} at position {position}: {problem}")


def _quoted(text: str, start: int) -> tuple[str, int]:
    """The key of a quoted step opened at ``start`` and the position after its closing quote."""
    quote = text[start]
    out: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text) and text[i + 1] in (quote, "\\"):
            out.append(text[i + 1])
            i += 2
        elif char == quote:
            return "".join(out), i + 1
        else:
            out.append(char)
            i += 1
    raise _fail(text, start, "unterminated quoted key")


def _bracket(text: str, start: int) -> tuple[Step, int]:
    """One ``[...]`` step opened at ``start`` (the ``[``)."""
    i = start + 1
    if i < len(text) and text[i] in "'\"":
        key, i = _quoted(text, i)
        step: Step = key
    else:
        match = _DIGITS.match(text, i)
        if match is None:
            raise _fail(text, i, "expected a list index or a quoted key after '['")
        if len(match.group(0)) > 7 or int(match.group(0)) > MAX_INDEX:
            raise _fail(text, i, f"list index over {MAX_INDEX}")
        step, i = int(match.group(0)), match.end()
    if i >= len(text) or text[i] != "]":
        raise _fail(text, i, "expected ']'")
    return step, i + 1


def _steps(text: str, position: int) -> list[Step]:
    steps: list[Step] = []
    while position < len(text):
        char = text[position]
        if char == ".":
            match = _NAME.match(text, position + 1)
            if match is None:
                raise _fail(text, position + 1, "expected a name after '.' (quote other keys: ['a b'])")
            steps.append(match.group(0))
            position = match.end()
        elif char == "[":
            step, position = _bracket(text, position)
            steps.append(step)
        else:
            raise _fail(text, position, f"unexpected {char!r} (a step starts with '.' or '[')")
        if len(steps) > MAX_STEPS + 1:
            raise _fail(text, position, f"more than {MAX_STEPS} steps")
    return steps


def parse(text: str) -> Path:
    """Parse a path expression; ``ValueError`` names the position of the first problem."""
    if not isinstance(text, str):
        raise ValueError(f"a path expression must be a string (got {type(text).__name__})")
    if len(text) > MAX_LENGTH:
        raise _fail(text[:40] + "...", MAX_LENGTH, f"longer than {MAX_LENGTH} characters")
    if not text.startswith("$"):
        raise _fail(text, 0, "a path starts with '$'")
    steps = _steps(text, 1)
    if not steps:
        raise _fail(text, 1, f"expected a root after '$': {', '.join('$.' + r for r in ROOTS)}")
    root = steps[0]
    if root not in ROOTS:
        raise _fail(text, 1, f"unknown root {root!r}; a path starts with {', '.join('$.' + r for r in ROOTS)}")
    below = tuple(steps[1:])
    if root != "body" and (len(below) != 1 or not isinstance(below[0], str)):
        raise _fail(text, 1, f"a $.{root} path names exactly one {root[:-1] if root == 'headers' else 'parameter'}")
    return Path(text, str(root), below)


def _header(headers: Any, name: str) -> Any:
    if not isinstance(headers, Mapping):
        return None
    wanted = name.lower()
    value = headers.get(wanted)
    if value is not None:
        return value
    return next((v for k, v in headers.items() if isinstance(k, str) and k.lower() == wanted), None)


def _step(value: Any, step: Step) -> Any:
    if isinstance(step, int):
        return value[step] if isinstance(value, list) and step < len(value) else None
    return value.get(step) if isinstance(value, dict) else None


def evaluate(path: Path, context: Mapping[str, Any]) -> Any:
    """The value ``path`` names in ``context``, or ``None``. Never raises."""
    try:
        if path.root == "headers":
            return _header(context.get("headers"), str(path.steps[0]))
        value = context.get(path.root)
        if path.root == "query":
            return value.get(path.steps[0]) if isinstance(value, Mapping) else None
        for step in path.steps:
            value = _step(value, step)
            if value is None:
                return None
        return value
    except (TypeError, ValueError, LookupError, AttributeError):
        # A mapping of a shape the path does not fit (unhashable key, odd get()) is an absent value, not a 500;
        # anything else is a bug and raises with its cause.
        return None


def text_of(value: Any) -> str | None:
    """A scalar as text to compare or store (``123`` → ``"123"``, ``True`` → ``"true"``); else None."""
    if isinstance(value, str):
        # JSON may carry lone surrogates ("\\ud800"): not encodable, so they would fail wherever the text goes next.
        return value if value.isascii() else value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, bool | int | float) and value == value and abs(value) != float("inf"):
        try:
            return json.dumps(value)
        except ValueError:  # an int too long to print (sys.int_info limit)
            return None
    return None


def evaluate_text(path: Path, context: Mapping[str, Any]) -> str | None:
    """The scalar ``path`` names, as text; ``None`` when it is missing or not a scalar."""
    return text_of(evaluate(path, context))


def check(text: str) -> str:
    """Pydantic validator: the expression parses. The text is kept; evaluation parses it again (cached)."""
    parse(text)
    return text
