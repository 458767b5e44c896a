"""The heap a process starts with, set aside from the cyclic garbage collector once it is built.

Python's collector looks through every tracked object of the oldest generation in each of its full passes. A
process's startup heap (modules, settings, the registry snapshot, the application: about 100,000 objects in a
worker) never becomes garbage, yet a busy delivery worker went through it every second or two, some 50 ms a
pass (bench/README.md, "HTTP delivery"). ``gc.freeze`` moves what is alive at startup into the collector's
permanent generation, so its passes look only at what the process allocated since. Reference counting still
frees those objects; only a reference cycle among them would now outlive them.

Once per process: the first runtime to start freezes; one started later (tests start many) leaves it as it is,
so nothing built after startup is ever kept from the collector.
"""

from __future__ import annotations

import gc

__all__ = ["freeze_startup_heap"]

_frozen = False


def freeze_startup_heap() -> None:
    """After startup, before the loops: collect what startup left behind, then freeze the rest (once)."""
    global _frozen
    if _frozen:
        return
    _frozen = True
    gc.collect()
    gc.freeze()
