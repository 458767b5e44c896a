"""requirements.lock pins what pyproject.toml asks for: a range changed without regenerating the lock fails here."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        spec = line.split("#", 1)[0].split(";", 1)[0].strip()
        if spec:
            name, _, version = spec.partition("==")
            assert version, f"not an exact pin in requirements.lock: {line!r}"
            pins[canonicalize_name(name)] = version
    return pins


DECLARED = [
    *PROJECT["dependencies"],
    *(req for extra in ("test", "embedded") for req in PROJECT["optional-dependencies"][extra]),
]


@pytest.mark.parametrize("declared", DECLARED)
def test_every_declared_dependency_is_pinned_within_its_range(declared: str) -> None:
    requirement = Requirement(declared)
    pinned = _pins().get(canonicalize_name(requirement.name))
    assert pinned is not None, f"{requirement.name} is not in requirements.lock: regenerate it"
    assert requirement.specifier.contains(pinned, prereleases=True), (
        f"requirements.lock pins {requirement.name}=={pinned}, outside {requirement.specifier}: regenerate it"
    )
