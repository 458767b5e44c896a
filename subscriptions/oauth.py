"""OAuth 2.0 token refresh as data: each provider's token endpoint and how it takes the client's credentials, the
refresh request (RFC 6749 §6), and what its answer changes in a credential's values. No I/O here.

A credential refreshes when its ``values`` hold a ``refresh_token``; the client id and secret are the integration's
``options.client_id`` / ``options.client_secret`` (sealed), else the credential's own ``client_id`` /
``client_secret`` values (Marketo's users bring their own). The token endpoint is ``options.token_url``, else the
provider's below. An answer of 400 or 401 (RFC 6749 §5.2: ``invalid_grant``, ``invalid_client``, ...) is a refusal
for good; anything else that is not 200 may pass.

Marketo hands out no refresh token: its access token (an hour) comes from a ``client_credentials`` grant with the
client id and secret each user brings (``CLIENT_CREDENTIALS``), at the token endpoint of the instance's identity
service (the credential's ``identity_url`` value, ``https://<munchkin id>.mktorest.com/identity``, plus
``/oauth/token``); such a credential refreshes when it holds ``client_secret`` and that value.

Docs: https://developers.google.com/identity/protocols/oauth2/web-server#offline,
https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_refresh_token_flow.htm,
https://www.zoho.com/crm/developer/docs/api/v6/refresh.html,
https://pipedrive.readme.io/docs/marketplace-oauth-authorization (client credentials as HTTP Basic),
https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#refresh-the-access-token,
https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/authentication (``POST
<identity>/oauth/token`` with ``grant_type=client_credentials``, ``client_id`` and ``client_secret``).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from pydantic import SecretStr

from subscriptions.models import Credential, Integration, check_base_url

_GOOGLE = "https://oauth2.googleapis.com/token"
_MICROSOFT = "https://login.microsoftonline.com/common/oauth2/v2.0/token"

TOKEN_URLS: dict[str, str] = {
    "salesforce": "https://login.salesforce.com/services/oauth2/token",
    "pardot": "https://login.salesforce.com/services/oauth2/token",
    "google-calendar": _GOOGLE,
    "google-drive": _GOOGLE,
    "google-sheets": _GOOGLE,
    "zohocrm": "https://accounts.zoho.com/oauth/v2/token",
    "pipedrive": "https://oauth.pipedrive.com/oauth/token",
    "outlook": _MICROSOFT,
    "microsoft-teams": _MICROSOFT,
    "sharepoint": _MICROSOFT,
    "onedrive": _MICROSOFT,
    "microsoft-dynamics-365": _MICROSOFT,
    "dropbox": "https://api.dropboxapi.com/oauth2/token",  # short-lived tokens (4 h) and a refresh_token
}
BASIC_AUTH: frozenset[str] = frozenset({"pipedrive"})  # client credentials in Authorization: Basic, not the body
# Types whose tokens come from a client_credentials grant, and the credential value naming their identity service.
CLIENT_CREDENTIALS: dict[str, str] = {"marketo": "identity_url"}

# Values a token answer may renew, besides the tokens: where the API lives for this account.
_KEPT = ("instance_url", "api_domain")


@dataclass(frozen=True, slots=True)
class RefreshRequest:
    url: str
    headers: dict[str, str]
    body: bytes


def can_refresh(credential: Credential, integration: Integration | None = None) -> bool:
    """Whether the credential's access token can be renewed: with its refresh token, or (``CLIENT_CREDENTIALS``
    types, when the integration is given) with the client credentials the user brought."""
    if "refresh_token" in credential.values:
        return True
    identity = CLIENT_CREDENTIALS.get(integration.type) if integration is not None else None
    return identity is not None and identity in credential.values and "client_secret" in credential.values


def refresh_request(integration: Integration, credential: Credential) -> RefreshRequest | None:
    """The token request, or None when the integration has no token endpoint or no client id."""
    url = integration.options.token_url or TOKEN_URLS.get(integration.type)
    client_id = integration.options.client_id or _value(credential, "client_id")
    secret = integration.options.client_secret
    client_secret = secret.get_secret_value() if secret is not None else _value(credential, "client_secret")
    if "refresh_token" not in credential.values and can_refresh(credential, integration):
        return _client_credentials(integration, credential, client_id, client_secret)
    if url is None or not client_id or not can_refresh(credential):
        return None
    form = {"grant_type": "refresh_token", "refresh_token": credential.values["refresh_token"].get_secret_value()}
    headers = {"content-type": "application/x-www-form-urlencoded", "accept": "application/json"}
    if integration.type in BASIC_AUTH:
        pair = f"{client_id}:{client_secret}".encode()
        headers["authorization"] = "Basic " + base64.b64encode(pair).decode()
    else:
        form |= {"client_id": client_id, "client_secret": client_secret}
    return RefreshRequest(url, headers, urlencode(form).encode())


def _client_credentials(
    integration: Integration, credential: Credential, client_id: str, client_secret: str
) -> RefreshRequest | None:
    identity = _value(credential, CLIENT_CREDENTIALS[integration.type]).rstrip("/")
    url = integration.options.token_url or (identity + "/oauth/token" if identity else None)
    if url is None or not client_id or not client_secret:
        return None
    try:
        check_base_url(url, field="identity_url")  # a value the user typed: an http(s) URL, no query or credentials
    except ValueError:
        return None
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
    headers = {"content-type": "application/x-www-form-urlencoded", "accept": "application/json"}
    return RefreshRequest(url, headers, urlencode(form).encode())


def _value(credential: Credential, name: str) -> str:
    value = credential.values.get(name)
    return value.get_secret_value() if value is not None else ""


def refreshed_values(credential: Credential, answer: Mapping[str, Any], now: float) -> dict[str, SecretStr] | None:
    """The credential's values after a 200 answer; None when it holds no access token."""
    token = answer.get("access_token")
    if not isinstance(token, str) or not token:
        return None
    values = dict(credential.values)
    values["access_token"] = SecretStr(token)
    rotated = answer.get("refresh_token")
    if isinstance(rotated, str) and rotated:  # providers that rotate refresh tokens hand out the next one
        values["refresh_token"] = SecretStr(rotated)
    expires_in = answer.get("expires_in")
    if isinstance(expires_in, int | float | str) and str(expires_in).isdigit():
        values["expires_at"] = SecretStr(str(int(now) + int(expires_in)))
    else:
        values.pop("expires_at", None)
    for name in _KEPT:
        if isinstance(answer.get(name), str):
            values[name] = SecretStr(answer[name])
    return values


def refusal(answer: Any) -> str:
    """The reason a token endpoint gave for refusing, for credentials_failure's ``data.error`` (bounded)."""
    if isinstance(answer, Mapping):
        error, description = answer.get("error"), answer.get("error_description")
        text = ": ".join(str(part) for part in (error, description) if isinstance(part, str) and part)
        if text:
            return text[:300]
    return "refresh_refused"


def expiring(credential: Credential, now: float, margin_s: float = 60.0) -> bool:
    """Whether the access token expires within ``margin_s`` (known only when a refresh told us)."""
    raw = _value(credential, "expires_at")
    return raw.isdigit() and int(raw) <= now + margin_s
