"""The admin API's one error style: RFC 9457 problem details, with the old ``error`` field kept.

``code`` is the stable field clients branch on; ``error`` is what the API answered before (sometimes a
sentence rather than a code) and stays, with every extra field it had, so existing clients keep working.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse

from router.errors import RouterError

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://hookrouter.dev/problems/"

# One short title per code: RFC 9457 says the title does not change from occurrence to occurrence.
TITLES = {
    "unauthorized": "Missing or invalid credential",
    "admin_api_disabled": "Admin API disabled",
    "insufficient_scope": "Insufficient scope",
    "not_found": "Not found",
    "method_not_allowed": "Method not allowed",
    "unknown_workflow": "Unknown workflow",
    "bad_parameter": "Bad request parameter",
    "bad_filter": "Bad filter",
    "invalid_body": "Invalid request body",
    "invalid": "Invalid request",
    "invalid_destination": "Invalid destination",
    "address_refused": "Destination address refused",
    "unknown_project": "Unknown project",
    "already_exists": "Record already exists",
    "precondition_failed": "Precondition failed",
    "in_use": "Record in use",
    "last_secret": "Last secret",
    "registry_changed": "Registry kept changing",
    "unsupported_media_type": "Unsupported media type",
    "replay_conflict": "Replay conflict",
    "malformed_entry": "Stored entry unreadable",
    "unreadable_record": "Registry record unreadable",
    "store_unavailable": "Event store unavailable",
    "rate_limited": "Too many requests",
    "internal_error": "Internal error",
}


class FieldError(BaseModel):
    field: str = Field(description="The request member at fault: a parameter's name, or a dotted path into the body")
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document. Clients branch on ``code``; other members a given error adds are listed
    in its description (``required`` on 403, ``problems`` on validation failures, ...)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="A URI naming the problem type; its last segment is the code")
    title: str
    status: int
    code: str = Field(description="Stable machine-readable code")
    error: str = Field(description="The code (or the sentence) this API answered before problem documents")
    detail: str | None = None
    errors: list[FieldError] | None = Field(default=None, description="Each request member at fault")


_DESCRIPTIONS = {
    400: "A request parameter that is not what the route takes (`bad_parameter`, naming it in `errors`)",
    401: "No credential, or one that is not valid (`unauthorized`), or the admin API is disabled",
    403: "The key lacks the scope this request needs (`insufficient_scope`; `required` names it)",
    404: "No such route or record, or one in a project the key may not read (`not_found`)",
    409: "The request conflicts with what is stored",
    422: "A request body that does not validate (`invalid_body`, every member at fault in `errors`)",
    503: "The event store (Redis) is unavailable; retry",
}
# Documented on every admin route; a route adds the others it can answer (412, 413, ...).
STANDARD_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": text} for status, text in _DESCRIPTIONS.items()
}


def responses(*statuses: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """More problem answers a route documents: by status, or ``s412="why"`` with a description."""
    out: dict[int | str, dict[str, Any]] = {s: {"model": Problem, "description": "See `code`"} for s in statuses}
    for name, text in described.items():
        out[int(name.removeprefix("s"))] = {"model": Problem, "description": text}
    return out


class ProblemResponse(JSONResponse):
    media_type = MEDIA_TYPE


def problem(
    status: int, code: str, detail: str | None = None, *, headers: Mapping[str, str] | None = None, **extra: object
) -> ProblemResponse:
    """A problem document for ``status``; ``extra`` adds (or, for ``error``, overrides) members."""
    return _document(status, code, detail, headers, extra)


def _document(
    status: int, code: str, detail: str | None, headers: Mapping[str, str] | None, extra: dict[str, object]
) -> ProblemResponse:
    body: dict[str, object] = {
        "type": TYPE_BASE + code,
        "title": TITLES.get(code, code.replace("_", " ").capitalize()),
        "status": status,
        "code": code,
        "error": code,
    }
    if detail is not None:
        body["detail"] = detail
    body.update(extra)
    return ProblemResponse(body, status_code=status, headers=headers)


def field_errors(problems: list[str]) -> list[dict[str, str]]:
    """``"field: message"`` strings (the ``problems`` list clients already read) as ``{field, message}``."""
    errors = []
    for text in problems:
        field, sep, message = text.partition(": ")
        errors.append({"field": field, "message": message} if sep else {"field": "body", "message": text})
    return errors


def invalid_body(problems: list[str], code: str = "invalid_body", status: int = 400) -> ProblemResponse:
    """A body that failed validation: every problem named by its field."""
    return problem(status, code, "; ".join(problems), problems=problems, errors=field_errors(problems))


def bad_parameter(name: str, message: str, code: str = "bad_parameter") -> ProblemResponse:
    """A query or body parameter the endpoint does not take; ``error`` keeps the sentence it always was."""
    return problem(400, code, message, error=message, errors=[{"field": name, "message": message}])


def from_router_error(exc: RouterError) -> ProblemResponse:
    """A RouterError's answer as a problem document: its body's members kept, its ``reason`` as the code."""
    body, headers = exc.answer()
    name = getattr(exc, "name", None)  # BadParameter and BadFilter say which parameter
    detail = body.get("message", str(exc) or None)
    extra = dict(body)
    if isinstance(name, str) and name:
        extra["errors"] = [{"field": name, "message": str(detail)}]
    return _document(exc.status or 500, exc.reason, None if detail is None else str(detail), headers, extra)
