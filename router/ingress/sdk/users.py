"""Connected users as the SDK sees them: created on their first valid user token, and their registry writes.

The platform has no "create user" call: a user exists once the operator's app has signed a token for it (App
Events answer 201 whatever the user). So the first valid token whose ``sub`` the registry does not know creates
that user, with no metadata, in the token's project, recorded as the SDK's (``origin: sdk``: ``apply --prune``
spares it unless told otherwise). User ids are unique across projects: a ``sub`` already
taken by another project's user is refused as ``unknown_user`` (never overwritten, never revealed).

Every write here goes through ``subscriptions.plan.apply_built`` (one MULTI, committed at the version it was
checked at, re-planned if the registry moved) and ``subscriptions.config.check`` over the project as it would
be, then refreshes this process's snapshot before the caller answers, so the next request sees it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from pydantic import BaseModel
from redis.exceptions import RedisError

from router.errors import RouterError
from router.runtime.state import State
from subscriptions.config import check
from subscriptions.errors import RegistryChanged
from subscriptions.models import ConnectedUser, Project
from subscriptions.plan import Stored, apply_built, project_of
from subscriptions.snapshot import Snapshot

logger = logging.getLogger(__name__)


class WriteRefused(RouterError):
    """A user-state write the registry's state refuses: ``status``, a stable ``code`` and a message."""

    reason = "write_refused"  # each instance says which: invalid_config, registry_changed, unknown_user, ...

    def __init__(self, status: int, code: str, message: str, **extra: object) -> None:
        super().__init__(code)
        self.status = status
        self.code = self.reason = code
        self.extra = {"message": message, **extra}

    def answer(self) -> tuple[dict[str, object], dict[str, str] | None]:
        return {"error": self.code, **self.extra}, None


def _key(kind: str, record: BaseModel) -> tuple[str, str]:
    return kind, str(record.model_dump()["id"])


def _problems(
    stored: Stored, project: str, puts: list[tuple[str, BaseModel]], deletes: list[tuple[str, str]], public_url: str
) -> list[str]:
    """The configuration problems the change brings into ``project`` (one already broken elsewhere is not ours)."""
    before = {_key(k, r): r for k, rs in stored.items() for r in rs if project_of(r) == project}
    after = dict(before)
    for kind, record in puts:
        after[_key(kind, record)] = record
    for key in deletes:
        after.pop(key, None)
    old = set(check(list(before.values()), public_url=public_url))
    return [e for e in check(list(after.values()), public_url=public_url) if e not in old]


async def commit(
    state: State,
    project: str,
    build: Callable[[Stored], list[tuple[str, BaseModel]]],
    deletes: Callable[[Stored], list[tuple[str, str]]] | None = None,
) -> Snapshot:
    """Write what ``build`` makes of the stored records (and delete what ``deletes`` names), checked as
    ``hookrouter apply`` checks a file; the snapshot answered is this process's, refreshed after the write."""

    async def built(stored: Stored) -> tuple[list[BaseModel], list[tuple[str, str]]]:
        puts = build(stored)
        gone = deletes(stored) if deletes else []
        problems = _problems(stored, project, puts, gone, state["settings"].public_url or "")
        if problems:
            raise WriteRefused(400, "invalid_config", "; ".join(problems), problems=problems)
        return [record for _, record in puts], gone

    try:
        await apply_built(state["registry"], built)
    except RegistryChanged:
        raise WriteRefused(
            409, "registry_changed", "the registry kept changing; nothing was written: try again"
        ) from None
    try:
        return await state["cache"].refresh()
    except RedisError:
        logger.warning("registry refresh after an SDK write failed; the background refresh catches up")
        return state["cache"].current


async def ensure_user(state: State, project: Project, user_id: str) -> ConnectedUser:
    """The connected user ``user_id``, created in ``project`` if the registry does not know it.

    Concurrent first requests of one user agree (they write the same record; the commit is checked at the
    version it read). A user of another project is answered as it is: the caller refuses it."""

    def build(stored: Stored) -> list[tuple[str, BaseModel]]:
        if any(isinstance(u, ConnectedUser) and u.id == user_id for u in stored.get("user", [])):
            return []  # created meanwhile, here or by another process
        return [("user", ConnectedUser(id=user_id, project=project.id, origin="sdk"))]

    snapshot = await commit(state, project.id, build)
    user = snapshot.users.get(user_id)
    if user is None:  # written, but the refresh failed: the record as written is the answer
        return ConnectedUser(id=user_id, project=project.id, origin="sdk")
    return user
