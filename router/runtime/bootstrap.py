"""Turn settings into something runnable: an embedded Redis when none is configured, and a master key."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from pydantic import SecretStr

from router.runtime.embedded import EmbeddedRedis, EmbeddedRedisError
from router.settings import Settings
from subscriptions.crypto import generate_master_key

logger = logging.getLogger(__name__)


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


def prepare(settings: Settings) -> tuple[Settings, EmbeddedRedis | None]:
    """Settings with a Redis URL and a master key filled in; the embedded Redis, if one was started."""
    if settings.redis_url:
        if settings.master_key is None:
            raise SystemExit(
                "HOOKROUTER_MASTER_KEY is required with an external Redis "
                "(python -c 'import os,base64;print(base64.b64encode(os.urandom(32)).decode())')"
            )
        return settings, None
    embedded = EmbeddedRedis(settings.data_dir, fsync=settings.redis_appendfsync)
    try:
        url = embedded.start()
    except EmbeddedRedisError as exc:
        raise SystemExit(f"cannot start the embedded Redis: {exc}") from None  # one line, not a traceback
    key = settings.master_key or _key_file(embedded.data_dir)
    return settings.model_copy(update={"redis_url": url, "master_key": key}), embedded
