"""Turn settings into something runnable: an embedded Redis when none is configured, and a master key.

Every command finds its store the same way (``locate``): ``REDIS_URL`` when set; else the embedded Redis of the
data directory, which is ``HOOKROUTER_DATA_DIR`` when set, else the nearest ``.hookrouter`` folder in the working
directory or one of its parents (as git finds ``.git``), else ``./.hookrouter``. Commands that only read
(``join=True``) use the embedded Redis another process runs there and never start one: a fresh, empty store
would answer "0 events" for a store that is merely elsewhere.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from pydantic import SecretStr

from router.errors import RouterError
from router.runtime.embedded import EmbeddedRedis, EmbeddedRedisError, responds
from router.settings import Settings
from subscriptions.crypto import generate_master_key

logger = logging.getLogger(__name__)

DATA_DIR_NAME = ".hookrouter"


class StartupError(RouterError, RuntimeError):
    """The settings name no store this command can use (the message says what to do)."""

    reason = "startup_failed"


def _key_file(data_dir: Path) -> SecretStr:
    path = data_dir / "master.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(generate_master_key() + "\n")
        logger.warning(
            "generated a master key file for secrets at rest; set HOOKROUTER_MASTER_KEY in production",
            extra={"path": str(path)},
        )
    return SecretStr(path.read_text().strip())


def data_dir(settings: Settings, cwd: Path | None = None) -> Path:
    """The data directory this command uses: set explicitly, else the nearest ``.hookrouter`` up from ``cwd``."""
    if "data_dir" in settings.model_fields_set:
        return settings.data_dir.resolve()
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / DATA_DIR_NAME).is_dir():
            return folder / DATA_DIR_NAME
    return here / DATA_DIR_NAME


def prepare(settings: Settings, *, join: bool = False) -> tuple[Settings, EmbeddedRedis | None]:
    """Settings with a Redis URL and a master key filled in; the embedded Redis, if this call started one.

    ``join``: use only an embedded Redis already running (StartupError when there is none), never start one.
    """
    if settings.redis_url:
        if settings.master_key is None:
            raise StartupError(
                "HOOKROUTER_MASTER_KEY is required with an external Redis "
                "(python -c 'import os,base64;print(base64.b64encode(os.urandom(32)).decode())')"
            )
        return settings, None
    folder = data_dir(settings)
    embedded = EmbeddedRedis(folder, fsync=settings.redis_appendfsync)
    if join:
        if not responds(embedded.socket):
            raise StartupError(
                f"no hookrouter is running with data directory {folder}: start `hookrouter serve` there, "
                "or point HOOKROUTER_DATA_DIR (or REDIS_URL) at the store to read"
            )
        key = settings.master_key or _key_file(folder)
        return settings.model_copy(update={"redis_url": embedded.url, "master_key": key, "data_dir": folder}), None
    try:
        url = embedded.start()
    except EmbeddedRedisError as exc:
        raise StartupError(f"cannot start the embedded Redis: {exc}") from None
    key = settings.master_key or _key_file(embedded.data_dir)
    return settings.model_copy(update={"redis_url": url, "master_key": key, "data_dir": folder}), embedded
