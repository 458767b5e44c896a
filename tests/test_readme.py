from __future__ import annotations

import re
from pathlib import Path

from starlette.routing import Mount, Route

from router.settings import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_setting_is_in_the_readme_table() -> None:
    missing = [name for name in Settings.model_fields if f"`HOOKROUTER_{name.upper()}`" not in README]
    assert missing == []


def test_readme_names_the_two_commands() -> None:
    assert "hookrouter serve --apply examples/quickstart.yaml" in README
    assert "pip install -c requirements.lock -e '.[test]' && pytest" in README
    assert "pip install -c requirements.lock -e '.[embedded]'" in README


def test_every_admin_route_is_documented() -> None:
    # A route a platform engineer cannot find in the README is a route nobody calls right.
    from router.app import create_app
    from tests.router.conftest import make_settings

    text = re.sub(r"\{[^}]+\}", "{}", README)
    app = create_app(make_settings("redis://localhost:1"))
    api = next(r for r in app.routes if isinstance(r, Mount) and r.path == "/api")
    paths = {re.sub(r"\{[^}]+\}", "{}", "/api" + r.path) for r in api.routes if isinstance(r, Route)}
    assert len(paths) > 20  # the walk found the routes
    assert not sorted(p for p in paths if p not in text)
