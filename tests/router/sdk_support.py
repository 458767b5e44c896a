"""Shared by the App Event and Request trigger tests: RSA keys, user tokens and a seeded project."""

from __future__ import annotations

import functools
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from subscriptions.config import apply
from subscriptions.models import Project
from subscriptions.registry import Registry
from tests.router.conftest import Seed

PROJECT = "p1"
EVENTS = ["Contact Created", "Deal Won"]


@functools.cache
def keypair(n: int) -> tuple[rsa.RSAPrivateKey, str]:
    """Test key ``n``: (private key, public PEM), generated once per session.

    The key object, not its PEM: loading a PEM private key validates it, which costs ~100 ms per token.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, public.decode()


def token(sub: str = "u1", *, key: int = 0, age_s: float = 0, ttl_s: float = 3600, omit: tuple[str, ...] = ()) -> str:
    """A user token signed with test key ``key``, issued ``age_s`` ago and valid ``ttl_s`` from issue."""
    now = int(time.time() - age_s)
    claims: dict[str, Any] = {"sub": sub, "iat": now, "exp": int(now + ttl_s)}
    for claim in omit:
        claims.pop(claim)
    return jwt.encode(claims, keypair(key)[0], algorithm="RS256")


def bearer(sub: str = "u1", **kw: Any) -> dict[str, str]:
    return {"authorization": f"Bearer {token(sub, **kw)}"}


async def seed_project(registry: Registry, *, keys: tuple[int, ...] = (0,), escaped: bool = False) -> None:
    pems = [keypair(k)[1] for k in keys]
    if escaped:  # as pasted from an environment secret: literal backslash-n
        pems = [p.replace("\n", "\\n") for p in pems]
    await apply(registry, [Project(id=PROJECT, name="Test", user_token_public_keys=pems, app_events=EVENTS)])


async def seed_users(seed: Seed) -> None:
    """Two integrations; u1 has two Slack accounts and one HubSpot account; u2 one Slack account; u3 is disabled."""
    await seed(
        integration=[{"id": "slack-app", "type": "slack"}, {"id": "hub-app", "type": "hubspot"}],
        user=[{"id": "u1"}, {"id": "u2"}, {"id": "u3", "disabled": True}],
        credential=[
            {"id": "cred-slack-a", "user": "u1", "integration": "slack-app", "provider_id": "T1"},
            {"id": "cred-slack-b", "user": "u1", "integration": "slack-app", "provider_id": "T2"},
            {"id": "cred-hub", "user": "u1", "integration": "hub-app", "provider_id": "42"},
            {"id": "cred-slack-u2", "user": "u2", "integration": "slack-app", "provider_id": "T1"},
        ],
    )
