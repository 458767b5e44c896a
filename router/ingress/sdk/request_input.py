"""A Request trigger call, read into the shape its workflow sees, and checked against its rules.

The stored shape (the event body, as JSON) follows the platform's Request trigger output:
``{"headers": {lower-cased name: value}, "params": {...}, "body": ..., "file": {"name", "mimeType",
"data" (hex)} | null}``. ``body`` is an object for JSON, multipart/form-data and
x-www-form-urlencoded requests, else a string (UTF-8 text) or, for other bytes, the ``file``.
A JSON body that is a platform file object (``"dataType": "FILE"``) is also the ``file``; a
multipart part named ``paragon-file`` is the ``file``, any other uploaded part a file object in ``body``.
"""

from __future__ import annotations

import hmac
import json
import math
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.types import Message

from router import strict_json
from router.errors import RouterError
from subscriptions.models import FieldRule, RequestTrigger

FILE_PART = "paragon-file"
_FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")
# A workflow sees the caller's headers, but never the caller's credentials: stored events are not secrets.
_NOT_STORED = frozenset({"authorization", "proxy-authorization", "cookie"})
# Credentials too, but a header rule may need to see them first: left out when the call is stored (to_json).
API_KEY_HEADERS = frozenset({"x-api-key"})


class BadInput(RouterError):
    status = 400

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = self.reason = code
        self.message = message


@dataclass(slots=True)
class CallInput:
    headers: dict[str, str]
    params: dict[str, str]
    body: Any
    file: dict[str, str] | None
    form: bool = False  # body fields came from a form: every value is a string

    def to_json(self, *, omit: frozenset[str] = frozenset()) -> bytes:
        """The stored shape, without the headers named in ``omit`` (lower-case): see ``credential_headers``."""
        headers = {name: value for name, value in self.headers.items() if name not in omit}
        doc = {"headers": headers, "params": self.params, "body": self.body, "file": self.file}
        return json.dumps(doc, separators=(",", ":")).encode()


def credential_headers(rules: RequestTrigger | None) -> frozenset[str]:
    """Headers that authenticate a call: ``x-api-key`` and every header a rule requires a value of."""
    expected = {r.key.lower() for r in rules.header_validations if r.value is not None} if rules else set()
    return API_KEY_HEADERS | expected


def _file(name: str, mime_type: str, data: bytes) -> dict[str, str]:
    return {"name": name, "mimeType": mime_type or "application/octet-stream", "data": data.hex()}


def _file_object(doc: dict[str, Any]) -> dict[str, str]:
    data = doc.get("data")
    try:
        raw = bytes.fromhex(data) if isinstance(data, str) else None
    except ValueError:
        raw = None
    if raw is None:
        raise BadInput("invalid_file", 'a file object ("dataType": "FILE") needs "data" as a hex string')
    return _file(str(doc.get("name") or ""), str(doc.get("mimeType") or ""), raw)


def _json(raw: bytes) -> tuple[Any, dict[str, str] | None]:
    if not raw.strip():
        return {}, None
    try:
        doc = strict_json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise BadInput("invalid_json", strict_json.refusal(exc)) from exc
    if isinstance(doc, dict) and doc.get("dataType") == "FILE":
        return doc, _file_object(doc)
    return doc, None


async def _form(request: Request, raw: bytes) -> tuple[dict[str, Any], dict[str, str] | None]:
    async def replay() -> Message:  # the body was already read (under the size limit): parse that copy
        return {"type": "http.request", "body": raw, "more_body": False}

    body: dict[str, Any] = {}
    file = None
    try:
        async with Request(request.scope, replay).form() as form:
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    found = _file(value.filename or "", value.content_type or "", await value.read())
                    if key == FILE_PART:
                        file = found
                    else:
                        body[key] = {**found, "dataType": "FILE"}
                else:
                    body[key] = value
    except (MultiPartException, HTTPException) as exc:  # starlette raises the latter inside an app
        raise BadInput("invalid_form", "the form body could not be parsed") from exc
    return body, file


async def read_call(request: Request, raw: bytes) -> CallInput:
    """The call as its workflow sees it. Raises BadInput for a body its content type cannot parse."""
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        if name not in _NOT_STORED:  # Starlette's header names are already lower-case
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
    params = dict(request.query_params)
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        body, file = _json(raw)
        return CallInput(headers, params, body, file)
    if media in _FORMS:
        form_body, file = await _form(request, raw)
        return CallInput(headers, params, form_body, file, form=True)
    if not raw:
        return CallInput(headers, params, {}, None)
    try:
        return CallInput(headers, params, raw.decode("utf-8"), None)
    except UnicodeDecodeError:
        return CallInput(headers, params, {}, _file("", media, raw))


# -- validation ---------------------------------------------------------------------------------


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int | float):
        return "NUMBER"
    if isinstance(value, str):
        return "STRING"
    if isinstance(value, list):
        return "ARRAY"
    if isinstance(value, dict):
        return "FILE" if value.get("dataType") == "FILE" else "OBJECT"
    return "NULL"


def _form_value_is(expected: str, value: str) -> bool:
    # A form carries strings only: "42" is as much a NUMBER as a form can send.
    if expected == "BOOLEAN":
        return value in ("true", "false")
    if expected == "NUMBER":
        try:
            return math.isfinite(float(value))
        except ValueError:
            return False
    return False


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _equal(value: Any, expected: SecretStr) -> bool:
    # Constant time over bytes: the time taken must not tell a caller how much of a shared secret it guessed.
    # surrogatepass: a JSON string may hold a lone surrogate, which strict UTF-8 cannot encode.
    got = _text(value).encode("utf-8", "surrogatepass")
    return hmac.compare_digest(got, expected.get_secret_value().encode("utf-8", "surrogatepass"))


def _check(where: str, rule: FieldRule, values: dict[str, Any], form: bool) -> dict[str, str] | None:
    key = rule.key.lower() if where == "header" else rule.key
    if key not in values:
        return {"in": where, "key": rule.key, "problem": "missing"} if rule.required else None
    value = values[key]
    if rule.value is not None and not _equal(value, rule.value):
        # The expected value is not echoed: a header rule is often a shared secret.
        return {"in": where, "key": rule.key, "problem": "unexpected_value"}
    if rule.data_type is not None:
        got = _type_of(value)
        if got != rule.data_type and not (form and got == "STRING" and _form_value_is(rule.data_type, value)):
            return {"in": where, "key": rule.key, "problem": "wrong_type", "expected": rule.data_type, "got": got}
    return None


def violations(call: CallInput, rules: RequestTrigger) -> list[dict[str, str]]:
    """Every rule the call breaks (not just the first), in rule order: params, headers, body; then, without
    ``allow_arbitrary_payload``, whatever the rules do not declare."""
    body = call.body if isinstance(call.body, dict) else {}
    checks = [
        *(("param", r, call.params) for r in rules.param_validations),
        *(("header", r, call.headers) for r in rules.header_validations),
        *(("body", r, body) for r in rules.body_validations),
    ]
    found = (_check(where, rule, values, call.form) for where, rule, values in checks)
    return [v for v in found if v is not None] + undeclared(call, rules)


def undeclared(call: CallInput, rules: RequestTrigger) -> list[dict[str, str]]:
    """With ``allow_arbitrary_payload: false`` a trigger accepts only what its rules define (platform-api.md §2.3:
    it "will require headerValidations, bodyValidations, and paramValidations to be defined"): every query
    parameter and body field must be named by a rule, the body must be an object of fields, and a file needs a
    ``FILE`` body rule. Headers are not limited: every HTTP client sends some of its own."""
    if rules.allow_arbitrary_payload:
        return []
    params = {r.key for r in rules.param_validations}
    found = [{"in": "param", "key": k, "problem": "undeclared"} for k in call.params if k not in params]
    body = call.body
    if not isinstance(body, dict):
        found.append({"in": "body", "key": "", "problem": "not_an_object"})
    elif call.file is None or body.get("dataType") != "FILE":  # a file object as the body is the file, not fields
        fields = {r.key for r in rules.body_validations}
        found += [{"in": "body", "key": k, "problem": "undeclared"} for k in body if k not in fields]
    if call.file is not None and not any(r.data_type == "FILE" for r in rules.body_validations):
        found.append({"in": "body", "key": "file", "problem": "undeclared"})
    return found


def describe(found: list[dict[str, str]]) -> str:
    parts = []
    for v in found:
        what = f"{v['in']} {v['key']!r}"
        if v["problem"] == "missing":
            parts.append(f"{what} is required")
        elif v["problem"] == "unexpected_value":
            parts.append(f"{what} does not have the expected value")
        elif v["problem"] == "undeclared":
            parts.append(f"{what} is not one the workflow accepts")
        elif v["problem"] == "not_an_object":
            parts.append("the body must be an object of the fields the workflow accepts")
        else:
            parts.append(f"{what} should be {v['expected']}, got {v['got']}")
    return f"{len(found)} validation rule(s) failed: " + "; ".join(parts)
