"""One exception root per package, each error with a stable ``reason`` code."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

import router
import subscriptions
import verifiers
from router.egress.policy import AddressRefused
from router.errors import RouterError
from subscriptions.errors import SubscriptionError
from verifiers.errors import VerificationError

ROOTS: dict[str, tuple[ModuleType, type[Exception], set[type[BaseException]]]] = {
    # AddressRefused is raised where httpx expects its own transport errors, so it is an httpx.ConnectError.
    "router": (router, RouterError, {AddressRefused}),
    "subscriptions": (subscriptions, SubscriptionError, set()),
    "verifiers": (verifiers, VerificationError, set()),
}
# Errors whose code is given per instance (a refusal's code, a record's reason) set it in __init__.
PER_INSTANCE = {"Refused", "TokenRejected", "BadInput", "_HeadRejected", "UnreadableRecord"}


def exceptions_in(package: ModuleType) -> list[type[BaseException]]:
    found = []
    for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        if info.name.endswith("__main__"):
            continue  # runs the command line
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and issubclass(cls, BaseException):
                found.append(cls)
    return found


@pytest.mark.parametrize("name", sorted(ROOTS))
def test_every_exception_is_under_the_package_root_with_a_reason(name: str) -> None:
    package, root, outside = ROOTS[name]
    found = exceptions_in(package)
    assert root in found  # the walk saw the package
    strays = [c.__qualname__ for c in found if c not in outside and not issubclass(c, root)]
    assert not strays, f"exceptions outside {root.__qualname__}: {strays}"
    leaves = [c for c in found if issubclass(c, root) and c is not root]
    unnamed = {c.__qualname__ for c in leaves if getattr(c, "reason", None) == getattr(root, "reason", None)}
    assert unnamed <= PER_INSTANCE, f"no reason code of their own: {sorted(unnamed - PER_INSTANCE)}"
