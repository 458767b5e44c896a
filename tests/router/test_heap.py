from __future__ import annotations

import gc
import weakref

from router.runtime.heap import freeze_startup_heap


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_the_startup_heap_is_frozen_once_and_what_comes_later_stays_collectable() -> None:
    freeze_startup_heap()  # the first runtime of this process may have done it already
    frozen = gc.get_freeze_count()
    assert frozen > 0
    later = _Cycle()
    freeze_startup_heap()  # a second runtime starting: nothing more set aside
    assert gc.get_freeze_count() == frozen
    gone = weakref.ref(later)
    del later
    gc.collect()  # a cycle built after startup is still the collector's to free
    assert gone() is None
