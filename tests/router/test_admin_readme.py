"""The README's *Using the admin API* examples work: the Python block runs against a live server, and every curl
command calls an operation the schema documents, so neither can rot unnoticed."""

from __future__ import annotations

import asyncio
import re
import runpy
import shlex
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from router.admin.api import create_api
from tests.router.conftest import ADMIN_TOKEN, make_registry, make_seed, make_settings, seed_slack
from tests.router.live import serve
from tests.router.test_replay import post_events, route_all

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
TITLE = "## Using the admin API"


def section() -> str:
    start = README.index(TITLE)
    end = README.find("\n## ", start + len(TITLE))
    return README[start : end if end >= 0 else None]


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section(), re.DOTALL)


async def _seed(redis_url: str) -> str:
    """Project p1 with a Slack integration and one stored event; the event's id."""
    redis = Redis.from_url(redis_url)
    try:
        await redis.flushdb()
        registry = make_registry(redis)
        seed = make_seed(registry)
        await seed(project=[{"id": "p1"}])
        await seed_slack(seed)
        [event_id] = await post_events(make_settings(redis_url), 1)
        await route_all(redis, registry)  # routing indexes it by project
        return event_id
    finally:
        await redis.aclose()


def test_the_python_example_runs_against_a_live_server(
    redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    [code] = blocks("python")
    event_id = asyncio.run(_seed(redis_url))
    with serve(make_settings(redis_url)) as base_url:
        monkeypatch.setenv("HOOKROUTER_URL", base_url)
        monkeypatch.setenv("HOOKROUTER_ADMIN_TOKEN", ADMIN_TOKEN)
        script = tmp_path / "readme_example.py"
        script.write_text(code)
        namespace = runpy.run_path(str(script), run_name="readme_example")
        printed = capsys.readouterr().out
        admin = {"authorization": f"Bearer {ADMIN_TOKEN}"}
        revoked = {"authorization": f"Bearer {namespace['key']['key']}"}
        assert httpx.get(f"{base_url}/api/events?project=p1", headers=revoked).status_code == 401
        destination = httpx.get(f"{base_url}/api/destinations/p1-oncall", headers=admin).json()
    assert f"{event_id} " in printed  # the stored event was listed
    assert "403 insufficient_scope operator" in printed
    assert [line.split()[2] for line in printed.splitlines()[-2:]] == ["put_destination", "create_key"]
    assert (destination["project"], destination["url"]) == ("p1", "https://oncall.example.com/…")


def curl_calls() -> list[tuple[str, str]]:
    """(method, path) of every curl command in the section's shell block."""
    [script] = blocks("sh")
    calls = []
    for command in script.replace("\\\n", " ").splitlines():
        words = shlex.split(command, comments=True)
        if words[:1] != ["curl"]:
            continue
        method = words[words.index("-X") + 1] if "-X" in words else "GET"
        [url] = [w for w in words if w.startswith("$HOOKROUTER_URL/")]
        calls.append((method, url.removeprefix("$HOOKROUTER_URL").partition("?")[0]))
    return calls


def test_every_curl_command_calls_a_documented_operation() -> None:
    schema = create_api().openapi()
    documented = [
        (method.upper(), re.compile(re.sub(r"\{[^}]+\}", "[^/]+", "/api" + path) + "$"))
        for path, methods in schema["paths"].items()
        for method in methods
    ]
    calls = curl_calls()
    assert len(calls) >= 5
    assert [c for c in calls if not any(m == c[0] and p.match(c[1]) for m, p in documented)] == []
