"""Imports every provider module so each registers itself.

Every public module of the package (no leading underscore) other than ``errors`` and ``samples`` is a provider:
adding ``verifiers/<name>.py`` that calls ``register(...)`` is all it takes to add one.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

_NOT_PROVIDERS = {"errors", "samples"}

for _info in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda m: m.name):
    if not _info.name.startswith("_") and _info.name not in _NOT_PROVIDERS:
        importlib.import_module(f"verifiers.{_info.name}")
