"""The lifespan state every endpoint reads, typed."""

from __future__ import annotations

from typing import TypedDict, cast

from starlette.requests import Request

from router.egress.policy import EgressPolicy
from router.ingress.certificates import ProviderCertificates
from router.ingress.diagnostics import Diagnostics
from router.ingress.sdk.responses import ResponseWaiter
from router.notifications.delivery import DestinationSender
from router.runtime.health import Readiness
from router.settings import Settings
from router.storage.keys import Keys
from router.storage.store import EventStore
from subscriptions.api_keys import ApiKeys
from subscriptions.audit import AuditLog
from subscriptions.handshakes import HandshakeExpectations
from subscriptions.lifecycle_state import StateStore
from subscriptions.registry import Registry
from subscriptions.snapshot import SnapshotCache


class State(TypedDict):
    settings: Settings
    store: EventStore
    registry: Registry
    cache: SnapshotCache
    keys: Keys
    diagnostics: Diagnostics
    responses: ResponseWaiter
    subscription_secrets: StateStore
    handshakes: HandshakeExpectations
    destination_sender: DestinationSender
    readiness: Readiness
    egress: EgressPolicy
    api_keys: ApiKeys
    audit: AuditLog
    certificates: ProviderCertificates


def app_state(request: Request) -> State:
    # request.state.x is typed Any; the lifespan's dict lives in scope["state"], so read it once, typed.
    return cast(State, request.scope["state"])
