"""The lifespan state every endpoint reads, typed."""

from __future__ import annotations

from typing import TypedDict, cast

from starlette.requests import Request

from router.destination_delivery import DestinationSender
from router.diagnostics import Diagnostics
from router.egress import EgressPolicy
from router.health import Readiness
from router.keys import Keys
from router.responses import ResponseWaiter
from router.settings import Settings
from router.store import EventStore
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


def app_state(request: Request) -> State:
    # request.state.x is typed Any; the lifespan's dict lives in scope["state"], so read it once, typed.
    return cast(State, request.scope["state"])
