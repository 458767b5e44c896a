"""The embedded redis-server: append-only, fsync policy as configured, unix socket only."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis import Redis

from router.embedded import EmbeddedRedis
from router.settings import Settings


@pytest.mark.parametrize("fsync", ["always", "everysec", "no"])
def test_embedded_redis_persists_with_the_configured_fsync_policy(tmp_path: Path, fsync: str) -> None:
    embedded = EmbeddedRedis(tmp_path, fsync=fsync)
    url = embedded.start()
    try:
        client = Redis.from_url(url)
        try:
            config = client.config_get("append*")
            assert config["appendonly"] == "yes" and config["appendfsync"] == fsync
            assert client.config_get("port")["port"] == "0"  # no TCP listener
        finally:
            client.close()
    finally:
        embedded.stop()


def test_the_default_is_fsync_always() -> None:
    assert Settings(_env_file=None).redis_appendfsync == "always"  # type: ignore[call-arg]
    assert EmbeddedRedis(Path(".")).fsync == "always"


def test_an_unknown_policy_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="always, everysec, no"):
        EmbeddedRedis(tmp_path, fsync="sometimes")
