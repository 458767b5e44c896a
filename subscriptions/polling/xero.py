"""Xero Accounting: new accounts, customers and invoices, by ``If-Modified-Since``.

Docs: https://developer.xero.com/documentation/api/accounting/invoices and .../contacts, .../accounts (``GET
/api.xro/2.0/{Invoices,Contacts,Accounts}`` with the ``If-Modified-Since`` header, ``order``, and for invoices and
contacts ``page`` from 1 and ``pageSize`` up to 1000; the answer's ``Invoices`` / ``Contacts`` / ``Accounts``;
``UpdatedDateUTC`` in the form ``/Date(1573755038314+0000)/``),
https://developer.xero.com/documentation/guides/oauth2/auth-flow (every call names the organisation in the
``Xero-tenant-id`` header: the credential's provider id) and
https://developer.xero.com/documentation/guides/oauth2/limits (429 with Retry-After).

Records come oldest change first (``order=UpdatedDateUTC ASC``) and a full page is followed by the next page of
the same query, so a bulk change of any size within one second is read (up to ``max_pages``). Accounts have no
pages: the chart of accounts is small and answered whole. The cursor is written as ``YYYY-MM-DDThh:mm:ss`` (UTC),
the second of the newest change read, so that second is read again and its records stored once.

Xero's records carry no creation time, only ``UpdatedDateUTC``: a record fires New Account / Customer / Invoice
the first time a poll reads it (``once_per_record``; kept for ``ONCE_TTL_S``), that is when it is created, or an
older one the first time it changes after polling began. A contact is a customer once it has a sales invoice
(``IsCustomer``), so New Customer fires when a contact first reads as one.
"""

from __future__ import annotations

from subscriptions.polling.spec import EventRule, PollSpec
from subscriptions.providers.spec import RequestTemplate

ONCE_TTL_S = 400 * 86_400  # a record fires "new" once: longer than any gap between two of its changes we expect
_HEADERS = {
    "authorization": "Bearer {{credential.access_token}}",
    "xero-tenant-id": "{{credential.providerId}}",
    "if-modified-since": "{{poll.cursor}}",
    "accept": "application/json",
}


def _spec(resource: str, events: tuple[EventRule, ...], *, paged: bool) -> PollSpec:
    url = "{{api.base}}/api.xro/2.0/" + resource + "?order=UpdatedDateUTC%20ASC"
    if paged:
        url += "&pageSize=1000"
    return PollSpec(
        key=f"xero:{resource.lower()}",
        cursor="time",
        cursor_format="ms_date",
        request=RequestTemplate(method="GET", url=url, headers=_HEADERS),
        page=RequestTemplate(method="GET", url=url + "&page={{poll.page}}", headers=_HEADERS) if paged else None,
        first_page=1 if paged else None,
        records_path=resource,
        id_path=resource.removesuffix("s") + "ID",
        version_path="UpdatedDateUTC",
        cursor_path="UpdatedDateUTC",
        page_size=1000 if paged else 1_000_000,
        once_per_record=True,
        dedup_ttl_s=ONCE_TTL_S,
        events=events,
        base_url="https://api.xero.com",
    )


SPECS: dict[str, dict[str, PollSpec]] = {
    "xero": {
        "New Account": _spec("Accounts", (EventRule(event_type="account.created"),), paged=False),
        "New Customer": _spec(
            "Contacts", (EventRule(event_type="customer.created", path="IsCustomer", true=True),), paged=True
        ),
        "New Invoice": _spec("Invoices", (EventRule(event_type="invoice.created"),), paged=True),
    }
}
