"""Every poll spec fires the triggers it is listed under, and its rules tell created from updated as documented."""

from __future__ import annotations

import pytest

from subscriptions.polling import SPECS
from subscriptions.polling.spec import PollSpec
from subscriptions.triggers import ANY, EVENT_PREFIX, matches, trigger_names


def _event_types(spec: PollSpec) -> set[str]:
    return {rule.event_type for rule in spec.events}


@pytest.mark.parametrize(
    ("kind", "trigger"), [(kind, trigger) for kind, table in sorted(SPECS.items()) for trigger in sorted(table)]
)
def test_each_listed_trigger_is_a_valid_name_that_one_of_its_specs_event_types_fires(kind: str, trigger: str) -> None:
    spec = SPECS[kind][trigger]
    if trigger == ANY:
        return
    if trigger.startswith(EVENT_PREFIX):
        assert trigger.removeprefix(EVENT_PREFIX) in _event_types(spec)
        return
    assert trigger in trigger_names(kind)
    assert any(matches(kind, trigger, event_type) for event_type in _event_types(spec))


@pytest.mark.parametrize("kind", ["outlook", "sharepoint", "microsoft-teams", "microsoft-dynamics-365", "dropbox"])
def test_every_event_type_of_these_specs_fires_a_trigger_of_its_integration(kind: str) -> None:
    names = trigger_names(kind) or [n for n in SPECS[kind] if n.startswith(EVENT_PREFIX)]
    for spec in SPECS[kind].values():
        for event_type in _event_types(spec):
            assert any(matches(kind, name, event_type) for name in names), (kind, event_type)


def test_created_since_the_last_poll_is_strictly_after_it() -> None:
    spec = SPECS["outlook"]["Event Created"]
    at = {"createdDateTime": "2026-01-01T00:01:00.0000000Z", "lastModifiedDateTime": "2026-01-01T00:02:00Z"}
    last = 1_767_225_660.0  # 2026-01-01T00:01:00Z
    assert spec.event_type(at, last) == "event.updated"  # read before at that instant: an edit now
    assert spec.event_type(at, last - 0.001) == "event.created"
    assert spec.event_type({"id": "x", "@removed": {"reason": "deleted"}}, last) is None


def test_dropbox_created_needs_a_path_not_read_before() -> None:
    spec = SPECS["dropbox"]["File Created"]
    entry = {".tag": "file", "path_lower": "/a.txt", "rev": "1"}
    assert spec.event_type(entry) == "file.updated"
    assert spec.event_type(entry, new=True) == "file.created"
    assert spec.event_type({".tag": "deleted", "path_lower": "/a.txt"}, new=True) == "file.deleted"
    assert spec.event_type({".tag": "folder", "path_lower": "/d"}, new=True) is None
