"""Verification throughput per provider, next to a bare HMAC-SHA256 baseline measured in the same run.

    python bench/verify.py [--seconds 0.5] [--providers slack,github,jira]

Every name in ``verifiers.providers()`` has a case here: a function that forges one valid request whose
body is exactly the requested size, in the shape the provider needs (Lever's signature fields and
Linear's ``webhookTimestamp`` live in the body, Graph and Business Central batch notifications that each
carry the ``clientState``, Twilio and Mandrill post forms; elsewhere any bytes do). Signing reuses the
``sign`` helpers of ``tests/verifiers/test_<name>.py``, so the bench forges exactly what the tests accept.

Before anything is timed each request is checked: ``verifiers.verify`` must return None. A request that
is rejected is reported and never timed, so no figure can come from a rejection path (the run then exits
with status 1). Each case is then timed as ``verifiers.verify`` on that one request: process CPU time,
best of many short timeit loops, so other processes sharing the machine inflate nothing. The baseline is
``hmac.new(key, body, sha256).hexdigest()`` alone: the ratio shows what header parsing, timestamp
checks, constant-time comparison (or public-key cryptography, JWT decoding, body parsing) cost on top of
the digest of a body of the same size.

Aliases share their target's verifier: they are checked to verify but timed only when named in
``--providers``. Rows tagged ``[...]`` are a second path of the same provider (Jira Connect JWTs, Standard
Webhooks ``v1a`` Ed25519 signatures, Twilio JSON bodies, Svix header names).

To add a provider, add one case to ``CASES``: ``size -> Forged`` (see ``padded`` and ``batch``).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import sys
import time
import timeit
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo root: verifiers and tests

import verifiers
from tests.verifiers import (
    catalog_samples,
    test_asana,
    test_box,
    test_calendly,
    test_clickup,
    test_close,
    test_discord,
    test_docusign,
    test_dropbox,
    test_dynamicsbusinesscentral,
    test_github,
    test_gmail,
    test_gong,
    test_greenhouse,
    test_hubspot,
    test_intercom,
    test_jira,
    test_lever,
    test_linear,
    test_mailchimp,
    test_mandrill,
    test_microsoft_graph,
    test_monday,
    test_notion,
    test_outreach,
    test_paddle,
    test_pipedrive,
    test_quickbooks,
    test_salesloft,
    test_segment,
    test_sendgrid,
    test_shopify,
    test_slack,
    test_standard_webhooks,
    test_stripe,
    test_trello,
    test_twilio,
    test_typeform,
    test_xero,
    test_zendesk,
    test_zoom,
)
from verifiers._core import lookup

NOW = 1_700_000_000
SIZES = {"1 KiB": 1024, "64 KiB": 64 * 1024}
BASELINE_KEY = b"bench-secret-of-thirty-two-bytes"


@dataclass(frozen=True, slots=True)
class Forged:
    """One request that must verify: everything ``verifiers.verify`` takes besides the provider name."""

    body: bytes
    headers: dict[str, str]
    secrets: Sequence[str]
    url: str = ""
    method: str = "POST"
    now: float = NOW


Case = Callable[[int], Forged]  # body size in bytes -> a valid request with a body of exactly that size


def padded(build: Callable[[str], bytes], size: int) -> bytes:
    """``build(pad)`` with ``pad`` the run of ``x`` that makes the body exactly ``size`` bytes.

    ``build`` must put ``pad`` where one character costs one byte (a JSON string, a form value).
    """
    short = len(build(""))
    if short > size:
        raise ValueError(f"the smallest body of this shape is {short} bytes, more than {size}")
    body = build("x" * (size - short))
    if len(body) != size:
        raise ValueError(f"padding gave a {len(body)}-byte body, not {size}")
    return body


def batch(build: Callable[[int, str], bytes], size: int) -> bytes:
    """The most items ``build(count, pad)`` fits in ``size`` bytes, the last item padded to exactly ``size``."""
    low, high = 1, 2  # low fits; grow high until it does not, then bisect
    while len(build(high, "")) <= size:
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if len(build(middle, "")) <= size else (low, middle)
    return padded(lambda pad: build(low, pad), size)


def raw(size: int) -> bytes:
    """A JSON body of ``size`` bytes, for schemes that sign the body as opaque bytes."""
    return padded(lambda pad: b'{"data":"' + pad.encode() + b'"}', size)


def form(size: int, **fields: str) -> bytes:
    """An urlencoded form of ``size`` bytes: ``fields`` then a padded ``Body`` field."""
    return padded(lambda pad: urlencode({**fields, "Body": pad}).encode(), size)


def opaque(sign: Callable[[bytes], dict[str, str]], secret: str, url: str = "", *, now: float = NOW) -> Case:
    """A case for a scheme that signs the raw body: ``sign(body)`` gives the headers."""

    def case(size: int) -> Forged:
        body = raw(size)
        return Forged(body, sign(body), [secret], url=url, now=now)

    return case


# Providers whose body is shaped (the verifier parses it).


def lever(size: int) -> Forged:
    """The signature fields travel in the body; ``notes`` pads it."""
    body = padded(lambda pad: test_lever.sign(now=NOW, notes=pad), size)
    return Forged(body, {}, [test_lever.SECRET])


def linear(size: int) -> Forged:
    """The signed ``webhookTimestamp`` is read from the body; ``description`` pads it."""
    body = padded(lambda pad: test_linear.payload(now=NOW, description=pad), size)
    return Forged(body, test_linear.sign(body), [test_linear.SECRET])


def microsoft_graph(size: int) -> Forged:
    """A batch of notifications, each carrying the clientState the verifier checks."""
    graph = test_microsoft_graph

    def build(count: int, pad: str) -> bytes:
        return graph.body_of(*[graph.notification() for _ in range(count - 1)], graph.notification(padding=pad))

    body = batch(build, size)
    return Forged(body, graph.sign(body), [graph.SECRET], url=graph.URL)


def dynamicsbusinesscentral(size: int) -> Forged:
    """A batch of Business Central notifications, each carrying the clientState."""
    bc = test_dynamicsbusinesscentral
    item = bc.SAMPLE["value"][0]

    def build(count: int, pad: str) -> bytes:
        return json.dumps({"value": [item] * (count - 1) + [{**item, "padding": pad}]}).encode()

    body = batch(build, size)
    return Forged(body, bc.sign(body), [bc.SECRET], url=bc.URL)


def twilio_form(size: int) -> Forged:
    """A form post: every field is signed, sorted by name, after the URL."""
    body = form(size, CallSid="CA1234567890ABCDE", From="+14158675309", To="+18005551212")
    return Forged(body, test_twilio.sign(body), [test_twilio.TOKEN], url=test_twilio.URL)


def twilio_json(size: int) -> Forged:
    """A JSON post: the URL is signed and carries ``bodySHA256``."""
    body = raw(size)
    url = test_twilio.json_url(body)
    return Forged(body, test_twilio.sign(body, url=url, json_body=True), [test_twilio.TOKEN], url=url)


def mandrill(size: int) -> Forged:
    """A form with one ``mandrill_events`` field holding the JSON batch."""

    def build(pad: str) -> bytes:
        event = {"event": "send", "_id": "exampleaaaaaaaaaaaaaaaaaaaaaaaaa", "ts": NOW, "msg": {"subject": pad}}
        return urlencode({"mandrill_events": json.dumps([event])}).encode()

    body = padded(build, size)
    return Forged(body, test_mandrill.sign(body), [test_mandrill.SECRET], url=test_mandrill.URL)


def mailchimp(size: int) -> Forged:
    body = form(size, type="subscribe", **{"data[list_id]": "a6b5da1054"})
    return Forged(body, test_mailchimp.sign(body), [test_mailchimp.SECRET], url=test_mailchimp.url())


# Public-key and JWT schemes.


def discord(size: int) -> Forged:
    body = raw(size)
    return Forged(body, test_discord.sign(body, now=NOW), [test_discord.PUBLIC])


def sendgrid(size: int) -> Forged:
    body = raw(size)
    return Forged(body, test_sendgrid.sign(body, now=NOW), [test_sendgrid.SECRET])


def standard_webhooks_v1a(size: int) -> Forged:
    sw = test_standard_webhooks
    body = raw(size)
    return Forged(body, sw._v1a_headers(sw._v1a(body, now=NOW)), [sw.PUBLIC])


def gmail(size: int) -> Forged:
    body = raw(size)
    return Forged(body, test_gmail.sign(body, now=NOW), test_gmail.SECRETS, url=test_gmail.URL)


def gong(size: int) -> Forged:
    body = raw(size)
    return Forged(body, test_gong.sign(body, now=NOW), [test_gong.SECRET], url=test_gong.URL)


def monday(size: int) -> Forged:
    body = raw(size)
    return Forged(body, test_monday.sign(body, now=NOW), [test_monday.SECRET], url=test_monday.URL)


def jira_connect(size: int) -> Forged:
    body = raw(size)
    return Forged(body, test_jira.sign(body, connect=True, now=NOW), [test_jira.SHARED], url=test_jira.URL)


def pipedrive(size: int) -> Forged:
    body = raw(size)
    return Forged(body, test_pipedrive.sign(body), [test_pipedrive.SECRET])


def hubspot(size: int) -> Forged:
    body = raw(size)
    return Forged(body, test_hubspot.sign(body, now=NOW), [test_hubspot.SECRET], url=test_hubspot.URL)


def svix(size: int) -> Forged:
    sw = test_standard_webhooks
    body = raw(size)
    return Forged(body, sw.sign(body, now=NOW, prefix="svix-"), [sw.SECRET])


# Row name -> case. A name with a " [tag]" suffix is another path of the provider before it.
CASES: dict[str, Case] = {
    "asana": opaque(test_asana.sign, test_asana.SECRET),
    "box": opaque(lambda body: test_box.sign(body, now=NOW), test_box.PRIMARY),
    "calendly": opaque(lambda body: test_calendly.sign(body, now=NOW), test_calendly.SECRET),
    "clickup": opaque(test_clickup.sign, test_clickup.SECRET),
    "close": opaque(lambda body: test_close.sign(body, now=NOW), test_close.SECRET),
    "discord": discord,
    "docusign": opaque(test_docusign.sign, test_docusign.SECRET),
    "dropbox": opaque(test_dropbox.sign, test_dropbox.SECRET, test_dropbox.URL),
    "dynamicsbusinesscentral": dynamicsbusinesscentral,
    "github": opaque(test_github.sign, test_github.SECRET),
    "gmail": gmail,
    "gong": gong,
    "greenhouse": opaque(test_greenhouse.sign, test_greenhouse.SECRET),
    "hubspot": hubspot,
    "intercom": opaque(test_intercom.sign, test_intercom.SECRET),
    "jira": opaque(test_jira.sign, test_jira.SECRET, test_jira.URL),
    "jira [connect jwt]": jira_connect,
    "lever": lever,
    "linear": linear,
    "mailchimp": mailchimp,
    "mandrill": mandrill,
    "microsoft_graph": microsoft_graph,
    "microsoft-teams": microsoft_graph,
    "monday": monday,
    "notion": opaque(test_notion.sign, test_notion.SECRET),
    "onedrive": microsoft_graph,
    "outlook": microsoft_graph,
    "outreach": opaque(test_outreach.sign, test_outreach.SECRET),
    "paddle": opaque(lambda body: test_paddle.sign(body, now=NOW), test_paddle.SECRET),
    "pipedrive": pipedrive,
    "quickbooks": opaque(test_quickbooks.sign, test_quickbooks.SECRET),
    "salesloft": opaque(test_salesloft.sign, test_salesloft.SECRET),
    "segment": opaque(test_segment.sign, test_segment.SECRET),
    "sendgrid": sendgrid,
    "sharepoint": microsoft_graph,
    "shopify": opaque(test_shopify.sign, test_shopify.SECRET),
    "slack": opaque(lambda body: test_slack.sign(body, now=NOW), test_slack.SECRET),
    "standard_webhooks": opaque(lambda body: test_standard_webhooks.sign(body, now=NOW), test_standard_webhooks.SECRET),
    "standard_webhooks [v1a ed25519]": standard_webhooks_v1a,
    "stripe": opaque(lambda body: test_stripe.sign(body, now=NOW), test_stripe.SECRET),
    "svix": svix,
    "trello": opaque(test_trello.sign, test_trello.SECRET, test_trello.URL),
    "twilio": twilio_form,
    "twilio [json]": twilio_json,
    "typeform": opaque(test_typeform.sign, test_typeform.SECRET),
    "xero": opaque(test_xero.sign, test_xero.SECRET),
    "zendesk": opaque(lambda body: test_zendesk.sign(body, now=NOW), test_zendesk.SECRET),
    "zoom": opaque(lambda body: test_zoom.sign(body, now=NOW), test_zoom.SECRET),
}


CATALOG_URL = "https://hooks.example.com/webhook/triggers/connect/catalog/int_1"


def catalog(name: str) -> Case:
    """A catalog provider's scheme over a padded body, signed by ``verifiers.sign_request``: its
    sample (``verifiers.samples``) with the secrets ``tests/verifiers/catalog_samples.py`` holds for it."""
    item = catalog_samples.SAMPLES[name]

    def case(size: int) -> Forged:
        body = raw(size)
        signed = verifiers.sign_request(
            name, secrets=item.secrets, body=body, url=CATALOG_URL, now=NOW, headers=item.headers
        )
        return Forged(signed.body, signed.headers, list(item.checks), url=signed.url)

    return case


def _signs_beside_the_body(name: str) -> bool:
    # Schemes that write their signature into the body cannot be timed at an exact body size here.
    item = catalog_samples.SAMPLES[name]
    try:
        signed = verifiers.sign_request(name, secrets=item.secrets, body=raw(64), url=CATALOG_URL, now=NOW)
    except verifiers.NotSignable:  # the scheme needs a body of its own shape (Adyen's notificationItems)
        return False
    return signed.body == raw(64)


CASES.update({name: catalog(name) for name in sorted(catalog_samples.SAMPLES) if _signs_beside_the_body(name)})
CASES.update({alias: catalog(target) for alias, target in catalog_samples.ALIASES.items()})


# Why a row is not "one HMAC over the body": shown beside its figures.
NOTES: dict[str, str] = {
    "discord": "Ed25519",
    "dynamicsbusinesscentral": "batch: clientState checked per item",
    "gmail": "RS256 JWT; body not signed",
    "gong": "RS256 JWT + body SHA-256",
    "jira [connect jwt]": "HS256 JWT; body not signed",
    "lever": "JSON parsed; body not signed",
    "linear": "JSON parsed for webhookTimestamp",
    "mailchimp": "URL token; body not signed",
    "mandrill": "form parsed, fields signed",
    "microsoft_graph": "batch: clientState checked per item",
    "monday": "HS256 JWT; body not signed",
    "pipedrive": "basic auth; body not signed",
    "sendgrid": "ECDSA P-256",
    "standard_webhooks [v1a ed25519]": "Ed25519",
    "twilio": "form parsed, fields signed (SHA-1)",
    "twilio [json]": "SHA-256 of body + SHA-1 of URL",
    "paypal": "RSA + certificate chain to a root",
    "plaid": "ES256 JWT + body SHA-256",
    "netlify": "HS256 JWS + body SHA-256",
    "meta": "HMAC; verify_token entries set aside",
    "gitlab": "token header; body not signed",
    "telegram": "token header; body not signed",
    "gorgias": "token header; body not signed",
    "miro": "URL secret; body not signed",
    "okta": "authorization header; body not signed",
    "azure_devops": "basic auth; body not signed",
    "postmark": "basic auth; body not signed",
    "freshdesk": "basic auth; body not signed",
}


def provider_of(row: str) -> str:
    return row.split(" [", 1)[0]


def alias_target(name: str) -> str | None:
    """The provider ``name`` is an alias of, or None when it is a provider in its own right."""
    target = lookup(name).name
    return None if target == name else target


def seconds_per_call(fn: Callable[[], object], *, budget_s: float, slice_s: float = 0.02) -> float:
    """CPU seconds per call: the best of many ``slice_s`` loops run for about ``budget_s`` of wall time.

    Process CPU time, not wall time, and many short slices rather than a few long ones: on a shared
    machine another process can take the core for a while, and that must not count as verification cost.
    At least three slices are run, so one slow call can take longer than the budget.
    """
    start = time.perf_counter()
    timer = timeit.Timer(fn, timer=time.process_time)
    number = 1
    while (took := timer.timeit(number)) < budget_s / 20:  # calibrate: about a tenth of the budget
        number *= 2
    best = took / number
    loop = max(1, round(slice_s / best))
    slices = 0
    while slices < 3 or time.perf_counter() - start < budget_s:
        best = min(best, timer.timeit(loop) / loop)
        slices += 1
    return best


def baseline(size: int, *, budget_s: float) -> float:
    body = raw(size)
    return seconds_per_call(lambda: hmac.new(BASELINE_KEY, body, hashlib.sha256).hexdigest(), budget_s=budget_s)


def call(name: str, request: Forged) -> Callable[[], None]:
    provider = provider_of(name)
    headers, body, secrets, url, method, now = (
        request.headers,
        request.body,
        tuple(request.secrets),
        request.url,
        request.method,
        request.now,
    )

    def run() -> None:
        verifiers.verify(provider, secrets=secrets, headers=headers, body=body, method=method, url=url, now=now)

    return run


def forge_checked(name: str, size: int) -> Forged:
    """The case's request, after checking it is exactly ``size`` bytes and verifies (else raises)."""
    request = CASES[name](size)
    if len(request.body) != size:
        raise ValueError(f"forged a {len(request.body)}-byte body, not {size}")
    result = call(name, request)()  # raises VerificationError when the request is rejected
    if result is not None:
        raise TypeError(f"verifiers.verify returned {result!r}, not None")
    return request


def row(name: str, size: str, cost_s: float, base_s: float) -> str:
    return f"{name:<32} {size:>7} {1 / cost_s:>16,.0f} {cost_s * 1e6:>11.2f} {cost_s / base_s:>12.2f}"


def select(wanted: str | None) -> tuple[list[str], list[str]]:
    """(rows to time, unknown names) for ``--providers``; by default every row but the aliases."""
    if wanted is None:
        return [name for name in CASES if alias_target(provider_of(name)) is None], []
    names = {part.strip() for part in wanted.split(",") if part.strip()}
    chosen = [row for row in CASES if row in names or provider_of(row) in names]
    known = set(CASES) | {provider_of(row) for row in CASES}
    return chosen, sorted(names - known)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="time budget per measurement (default 0.5)")
    parser.add_argument(
        "--providers", metavar="A,B,C", help="comma-separated provider names (default: all but the aliases)"
    )
    args = parser.parse_args()
    if not args.seconds > 0:
        parser.error("--seconds must be positive")

    registered = verifiers.providers()
    chosen, unknown = select(args.providers)
    if unknown:
        parser.error("unknown provider(s): " + ", ".join(unknown) + "; known: " + ", ".join(sorted(CASES)))

    # Check every request first, timed or not: a rejected one is reported, never timed.
    checked: dict[tuple[str, int], Forged] = {}
    failures: list[str] = []
    skipped = sorted(set(registered) - {provider_of(name) for name in CASES})
    for name in sorted(CASES):
        for label, size in SIZES.items():
            try:
                checked[name, size] = forge_checked(name, size)
            except Exception as exc:  # any failure to forge or verify is reported alike
                failures.append(f"{name} ({label}): {type(exc).__name__}: {exc}")

    # The baseline is taken before and after the providers and the faster kept, so a burst of load from
    # other processes during either measurement does not skew every ratio.
    base = {size: baseline(size, budget_s=args.seconds) for size in SIZES.values()}
    costs = {
        (name, size): seconds_per_call(call(name, request), budget_s=args.seconds)
        for name in sorted(chosen)
        for size in SIZES.values()
        if (request := checked.get((name, size))) is not None
    }
    base = {size: min(base[size], baseline(size, budget_s=args.seconds)) for size in SIZES.values()}

    print(f"{'provider':<32} {'body':>7} {'verifications/s':>16} {'µs/verify':>11} {'× bare HMAC':>12}  note")
    for label, size in SIZES.items():
        print(row("(bare hmac-sha256 hex)", label, base[size], base[size]))
    for (name, size), cost in costs.items():
        label = next(label for label, value in SIZES.items() if value == size)
        print(row(name, label, cost, base[size]) + (f"  {NOTES[name]}" if name in NOTES else ""))

    aliases = sorted((name, target) for name in registered if (target := alias_target(name)) and name not in chosen)
    if aliases:
        listed = ", ".join(f"{name} → {target}" for name, target in aliases)
        print(f"\nAliases (same verifier as their target; checked to verify, not timed): {listed}")
    for name in skipped:
        print(f"NOT BENCHED {name}: no case in bench/verify.py CASES")
    for failure in failures:
        print(f"NOT BENCHED {failure}")
    return 1 if failures or skipped else 0


if __name__ == "__main__":
    sys.exit(main())
