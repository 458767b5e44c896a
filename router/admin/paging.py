"""The admin API's one list style and its one timestamp format.

A list takes ``?limit=&cursor=`` (older parameter names stay accepted as aliases) and answers
``{"data": [...], "next": "<path?query of the next page>" | null, "total": n}`` (``total`` only where counting is
cheap). ``next`` repeats the request's other parameters, so following it needs no knowledge of the cursor.
Timestamps keep their stored members (ms ints, seconds floats) and gain an ISO 8601 UTC twin.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request


def iso(ms: float) -> str:
    """Epoch milliseconds as ISO 8601 UTC with milliseconds: 2026-12-06T21:50:00.123Z."""
    whole = int(ms)
    return datetime.fromtimestamp(whole // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{whole % 1000:03d}Z"


def with_iso(
    record: Mapping[str, Any], *, ms: Iterable[str] = (), seconds: Iterable[str] = (), names: Mapping[str, str] = {}
) -> dict[str, Any]:
    """``record`` with an ISO twin for each named timestamp member that is set: ``<member>_iso`` unless ``names``
    gives the twin another name (``at_ms`` → ``at``). An unset (0 or null) member gets a null twin."""
    out = dict(record)
    for member, scale in [*((m, 1) for m in ms), *((s, 1000) for s in seconds)]:
        if member not in record:
            continue
        value = record[member]
        twin = names.get(member, f"{member}_iso")
        out[twin] = iso(float(value) * scale) if isinstance(value, int | float | str) and float(value) > 0 else None
    return out


def attempts_with_iso(attempts: Any) -> Any:
    """Delivery attempts as stored (each with ``at`` in seconds), each with its ``at_iso``."""
    if not isinstance(attempts, list):
        return attempts
    return [with_iso(a, seconds=["at"]) if isinstance(a, dict) else a for a in attempts]


def cursor(request: Request, *aliases: str) -> tuple[str, str | None]:
    """``?cursor=``, else the first older name the route used to take, with the name given (a 400 names it)."""
    return next(((n, v) for n in ("cursor", *aliases) if (v := request.query_params.get(n))), ("cursor", None))


def next_link(request: Request, next_cursor: str | None, *aliases: str) -> str | None:
    """The request's path and parameters with the cursor moved on; None on the last page."""
    if next_cursor is None:
        return None
    dropped = {"cursor", *aliases}
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in dropped]
    return f"{request.url.path}?{urlencode([*params, ('cursor', next_cursor)])}"


def page(data: list[Any], next_url: str | None = None, total: int | None = None, **extra: Any) -> dict[str, Any]:
    """A list answer; ``extra`` keeps a route's older members (``nextLink``, ``dropped``, ...) next to these."""
    out: dict[str, Any] = {"data": data, "next": next_url}
    if total is not None:
        out["total"] = total
    return {**out, **extra}
