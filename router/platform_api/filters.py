"""The Task History list's query parameters, read strictly: a name or value it does not take answers 400 naming
it, rather than being ignored (a filter silently dropped would answer a different question)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlencode

from starlette.requests import Request

from router.history.executions import parse_date
from router.history.indexes import BadFilter, JobFilter

PAGE = 100  # the documented page size
MAX_OFFSET = 100_000  # an offset walks every execution before it: past this, narrow the dates instead
FILTERS = ("userId", "workflowId", "integration", "status", "beforeDate", "afterDate")
PARAMETERS = (*FILTERS, "offset", "sortBy")

# Every spelling of a status the platform's documentation uses (the API's, the dashboard's, Not Started) → ours.
# None: a status executions here never reach (nothing cancels one), so the filter matches none.
STATUSES: dict[str, str | None] = {
    "EXECUTING": "EXECUTING",
    "RUNNING": "EXECUTING",
    "QUEUED": "EXECUTING",
    "NOT STARTED": "EXECUTING",
    "SUCCEEDED": "SUCCEEDED",
    "SUCCESS": "SUCCEEDED",
    "FAILED": "FAILED",
    "ERRORED": "FAILED",
    "DELAYED": "DELAYED",
    "WAITING": "DELAYED",
    "PAUSED": "DELAYED",
    "CANCELLED": None,
}


@dataclass(frozen=True, slots=True)
class ExecutionQuery:
    filter: JobFilter
    offset: int
    ascending: bool
    matches_none: bool  # a documented status that no execution here can have


def _status(text: str) -> str | None:
    spelling = " ".join(text.replace("_", " ").split()).upper()
    if spelling not in STATUSES:
        raise BadFilter(f"unknown status {text!r}; valid: EXECUTING, FAILED, SUCCEEDED, DELAYED", "status")
    return STATUSES[spelling]


def _offset(text: str) -> int:
    # ASCII digits only, and not thousands of them: str.isdigit() also takes "²", which int() refuses, as it
    # refuses more than 4300 digits.
    if not (text.isascii() and text.isdigit()) or len(text) > 20 or int(text) > MAX_OFFSET:
        raise BadFilter(f"offset must be an integer from 0 to {MAX_OFFSET}, got {text[:40]!r}", "offset")
    return int(text)


def _sort(text: str) -> bool:
    if text.upper() not in ("ASC", "DESC"):
        raise BadFilter(f"sortBy must be ASC or DESC, got {text!r}", "sortBy")
    return text.upper() == "ASC"


def parse(request: Request, project: str) -> ExecutionQuery:
    """The request's filters; BadFilter (→ 400) for an unknown parameter or a value the route does not take."""
    params = request.query_params
    unknown = sorted(set(params) - set(PARAMETERS))
    if unknown:
        raise BadFilter(f"unknown parameter {unknown[0]!r}; the filters are {', '.join(PARAMETERS)}", unknown[0])
    repeated = next((n for n in params if len(params.getlist(n)) > 1), None)
    if repeated:
        raise BadFilter(f"{repeated} given more than once", repeated)
    status = _status(params["status"]) if params.get("status") else None
    after, before = params.get("afterDate"), params.get("beforeDate")
    return ExecutionQuery(
        filter=JobFilter(
            project=project,
            user=params.get("userId") or None,
            workflow=params.get("workflowId") or None,
            integration_type=params.get("integration") or None,
            status=status,
            after_ms=parse_date("afterDate", after) if after else None,
            before_ms=parse_date("beforeDate", before) if before else None,
        ),
        offset=_offset(params["offset"]) if params.get("offset") else 0,
        ascending=_sort(params["sortBy"]) if params.get("sortBy") else False,
        matches_none=bool(params.get("status")) and status is None,
    )


def next_link(request: Request, base: str, query: ExecutionQuery) -> str:
    """The documented next page: the request's filters as given, then ``sortBy`` and the next ``offset``."""
    given = [(k, v) for k, v in request.query_params.multi_items() if k in FILTERS and v]
    order = "ASC" if query.ascending else "DESC"
    # Colons and @ stay as they are, as in the documentation's links (2023-02-16T00:00:00, test@example.com).
    text = urlencode([*given, ("sortBy", order), ("offset", str(query.offset + PAGE))], quote_via=quote, safe=":@")
    return f"{base}{request.url.path}?{text}"
