"""Every Redis key the registry uses. All share one hash tag so a change and its version bump can be
written in one MULTI, even on Redis Cluster."""

from __future__ import annotations

from urllib.parse import quote

KINDS: tuple[str, ...] = ("project", "integration", "user", "credential", "workflow", "activation")
KINDS += ("custom_webhook", "api_resource", "resource_connection")  # subscriptions.custom
KINDS += ("destination",)  # subscriptions.destinations


class RegistryKeys:
    def __init__(self, prefix: str = "hr") -> None:
        self._base = f"{prefix}:{{registry}}"

    def records(self, kind: str) -> str:
        """Hash: record id → JSON document."""
        if kind not in KINDS:
            raise ValueError(f"unknown record kind {kind!r}")
        return f"{self._base}:{kind}"

    @property
    def version(self) -> str:
        """Counter bumped on every change; readers reload their snapshot when it moves."""
        return f"{self._base}:version"

    @property
    def epoch(self) -> str:
        """Random token written with the first record: a registry emptied and written again (FLUSHALL, a Redis
        restarted without data) gets a new one, so readers reload even when the version counter lands where it was."""
        return f"{self._base}:epoch"

    @property
    def api_keys(self) -> str:
        """Hash: API key id → JSON (name, scopes, SHA-256 of the secret, created_at, revoked). Not a record kind:
        keys are not part of the snapshot, so a key change does not bump the version."""
        return f"{self._base}:api-keys"

    @property
    def api_keys_used(self) -> str:
        """Hash: API key id → last time (epoch seconds) the key was accepted; one field per key."""
        return f"{self._base}:api-keys-used"

    @property
    def audit(self) -> str:
        """Stream, capped (``subscriptions.audit.MAXLEN``): who changed what through the admin API or the CLI."""
        return f"{self._base}:audit"

    @property
    def key_check(self) -> str:
        """A value sealed with the master key the registry was first written with: a different key fails at start."""
        return f"{self._base}:key-check"


class LifecycleKeys:
    """Provider-side subscriptions and Integration Enabled markers. One hash tag, so a subscription's state
    and its entry in the index and the secrets hash change in one MULTI."""

    def __init__(self, prefix: str = "hr") -> None:
        self._base = f"{prefix}:{{subs}}"

    @property
    def index(self) -> str:
        """Set of every subscription with stored state (``credential|spec key``): the ACTUAL side."""
        return f"{self._base}:index"

    def state(self, member: str) -> str:
        """Hash: status, provider id, sealed secret and spec, expires_at, attempts, next_attempt_at, error."""
        return f"{self._base}:sub:{member}"

    def lock(self, member: str) -> str:
        """Short-lived claim (SET NX PX) held while one worker talks to the provider about ``member``."""
        return f"{self._base}:lock:{member}"

    def secrets(self, integration_id: str) -> str:
        """Hash: subscription member → sealed secret, for verifying that integration's notifications."""
        return f"{self._base}:secrets:{integration_id}"

    def expected_handshake(self, owner: str, credential: str) -> str:
        """String with a TTL: a handshake secret awaited while the router creates ``credential``'s subscription
        of ``owner`` (``subscriptions.handshakes``); parts percent-encoded so no two pairs share a key."""
        return f"{self._base}:handshake:{quote(owner, safe='')}:{quote(credential, safe='')}"

    @property
    def enabled(self) -> str:
        """Set of credential ids whose Integration Enabled event has been fired."""
        return f"{self._base}:enabled"
