from __future__ import annotations

from pathlib import Path

from router.settings import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_setting_is_in_the_readme_table() -> None:
    missing = [name for name in Settings.model_fields if f"`HOOKROUTER_{name.upper()}`" not in README]
    assert missing == []


def test_readme_names_the_two_commands() -> None:
    assert "hookrouter serve --apply examples/quickstart.yaml" in README
    assert "pip install -c requirements.lock -e '.[test]' && pytest" in README
    assert "pip install -c requirements.lock -e '.[embedded]'" in README
