"""Numbers and stream ids read from request parameters.

``str.isdigit`` accepts "²" and other Unicode digits that ``int`` refuses, and Redis refuses stream ids
beyond 64 bits: both used to reach Redis (or ``int``) and come back as a 5xx. Everything here is ASCII decimal,
range-checked, and a bad value is the caller's 400.
"""

from __future__ import annotations

import re

from starlette.requests import Request

from router.errors import RouterError

_DECIMAL = re.compile(r"[0-9]{1,20}", re.ASCII)
U64 = 2**64 - 1


class BadParameter(RouterError, ValueError):
    """A request parameter that is not what the endpoint takes (→ 400 naming it)."""

    reason = "bad_parameter"
    status = 400

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message

    def answer(self) -> tuple[dict[str, object], dict[str, str] | None]:
        return {"error": self.message}, None  # the admin API's answer since before reason codes


def decimal(text: str) -> int | None:
    """The value of an unsigned 64-bit ASCII decimal, else None."""
    if not _DECIMAL.fullmatch(text):
        return None
    value = int(text)
    return value if value <= U64 else None


def clamped_limit(request: Request, default: int, maximum: int, name: str = "limit") -> int:
    """``?limit=`` brought into 1..maximum; BadParameter when it is not a number at all."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    value = decimal(raw)
    if value is None:
        raise BadParameter(name, f"{name} must be an integer")
    return max(1, min(value, maximum))
