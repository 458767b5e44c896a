"""QuickBooks Online: new accounts, customers and invoices through Change Data Capture.

Docs: https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/changedatacapture (``GET
/v3/company/{realmId}/cdc?entities=<names>&changedSince=<ISO 8601>``, at most 30 days back and 1000 objects an
answer: ``CDCResponse[0].QueryResponse[0].<Entity>``; deleted objects carry ``status: Deleted``),
https://developer.intuit.com/app/developer/qbo/docs/learn/rest-api-features#metadata (``MetaData.CreateTime``,
``MetaData.LastUpdatedTime``) and https://developer.intuit.com/app/developer/qbo/docs/learn/rest-api-features
(throttling: 429). The company is the credential's ``realm_id`` (the OAuth redirect names it).

One poll per entity. CDC has no pages: a full answer (1000) is asked again from its newest ``LastUpdatedTime``
(``>=``, an object read twice is stored once per ``LastUpdatedTime``). An object whose created and last-updated
times are one instant is new; the platform's triggers are New Account, New Customer and New Invoice.
"""

from __future__ import annotations

from subscriptions.polling.spec import EventRule, PollSpec
from subscriptions.providers.spec import RequestTemplate

_HEADERS = {"authorization": "Bearer {{credential.access_token}}", "accept": "application/json"}


def _cdc(entity: str, event: str) -> PollSpec:
    return PollSpec(
        key=f"quickbooks:{entity.lower()}s",
        cursor="time",
        request=RequestTemplate(
            method="GET",
            url="{{api.base}}/v3/company/{{credential.realm_id}}/cdc?entities="
            + entity
            + "&changedSince={{poll.cursor}}&minorversion=75",
            headers=_HEADERS,
        ),
        records_path=f"CDCResponse.0.QueryResponse.0.{entity}",
        id_path="Id",
        version_path="MetaData.LastUpdatedTime",
        cursor_path="MetaData.LastUpdatedTime",
        page_size=1000,
        events=(
            EventRule(
                event_type=f"{event}.created", path="MetaData.CreateTime", same_time_as="MetaData.LastUpdatedTime"
            ),
            EventRule(event_type=f"{event}.updated"),
        ),
        base_url="https://quickbooks.api.intuit.com",
    )


SPECS: dict[str, dict[str, PollSpec]] = {
    "quickbooks": {
        "New Account": _cdc("Account", "account"),
        "New Customer": _cdc("Customer", "customer"),
        "New Invoice": _cdc("Invoice", "invoice"),
    }
}
