"""The command line's one error boundary: an ordinary mistake is one line on stderr and exit status 2.

Ordinary mistakes are the user's to fix, and a traceback only hides the one line that says how: a bad option
value or a missing file (Typer's usage errors), an invalid setting, a store that cannot be reached or is not
running, a configuration file the registry refuses. Anything else is a bug and keeps its traceback.

    status  meaning
    0       done
    1       done, and the answer is "no" (``events show`` of an id not stored, ``keys revoke`` of no live key)
    2       an ordinary mistake (this module)
    130     interrupted (Ctrl-C)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Mapping

import typer
from pydantic import AliasChoices, ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from router.errors import RouterError, StoreUnavailable
from router.history.indexes import BadFilter
from router.runtime.bootstrap import StartupError
from router.runtime.embedded import EmbeddedRedisError
from router.settings import Settings
from subscriptions.errors import ConfigError

USAGE = 2
INTERRUPTED = 130


class CliError(RouterError):
    """A mistake a command found itself: ``message`` is the line printed, ``code`` the exit status."""

    reason = "command_line_error"

    def __init__(self, message: str, code: int = USAGE) -> None:
        super().__init__(message)
        self.code = code


def _as_set(name: str, environ: Mapping[str, str]) -> str:
    """The variable the operator set for a setting with several names (``REDIS_URL`` for
    ``HOOKROUTER_REDIS_URL``): pydantic names the first alias whichever one was read."""
    present = {key.upper() for key in environ}
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices) and name in alias.choices:
            given = [str(choice) for choice in alias.choices if str(choice).upper() in present]
            return given[0] if given else name
    return name


def setting_errors(exc: ValidationError, environ: Mapping[str, str] | None = None) -> Iterator[str]:
    """One line per bad setting, named as the operator wrote it; never the value (it may be a secret)."""
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "settings"
        name = name if name.isupper() else "HOOKROUTER_" + name.upper()
        name = _as_set(name, os.environ if environ is None else environ)
        yield f"invalid setting {name}: {error['msg'].removeprefix('Value error, ')}"


def _lines(exc: BaseException) -> list[str] | None:
    """What to print for an ordinary mistake; None for anything else (a bug)."""
    if isinstance(exc, typer.TyperException):
        return [exc.format_message().replace(": Value error, ", ": ")]  # pydantic's prefix, on a Literal option
    if isinstance(exc, CliError | ConfigError | BadFilter | StartupError | EmbeddedRedisError):
        return [str(exc)]
    if isinstance(exc, ValidationError) and exc.title == "Settings":
        return list(setting_errors(exc))
    if isinstance(exc, RedisConnectionError | RedisTimeoutError | StoreUnavailable):
        # redis-py's message names the address (host:port or socket path), never a password.
        return [f"cannot reach Redis: {exc or type(exc).__name__}"]
    return None


def exit_code(exc: BaseException) -> int:
    if isinstance(exc, typer.TyperException):
        return exc.exit_code if exc.exit_code != 1 else USAGE  # FileError and its kind say 1: still a usage error
    if isinstance(exc, CliError):
        return exc.code
    return USAGE


def run(command: Callable[..., object]) -> None:
    """Run a command (``typer.main.get_command(app)``) inside the boundary; exits the process."""
    try:
        result = command(standalone_mode=False, prog_name="hookrouter")
    except (KeyboardInterrupt, typer.Abort):
        sys.stderr.write("\n")
        sys.exit(INTERRUPTED)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:
        lines = _lines(exc)
        if lines is None:
            raise
        for line in lines:
            sys.stderr.write(f"hookrouter: {line}\n")
        sys.exit(exit_code(exc))
    sys.exit(result if isinstance(result, int) else 0)
