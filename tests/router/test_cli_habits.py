"""The command line as a developer expects it: one-line errors with exit status 2, --version, --json, completion,
whole ids, and one way to find the store. Run as a user would: the real command in a subprocess, real Redis."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from router.history.indexes import STATUSES
from router.settings import Settings
from subscriptions.registry import Registry
from tests.router.conftest import MASTER_KEY, Seed, seed_slack
from tests.router.loopback import refused_url
from tests.router.test_cli import EXAMPLE, ROOT, cli_env, free_port, hookrouter
from tests.router.test_replay import post_events, route_all

pytestmark = pytest.mark.anyio


def store_env(redis_url: str, **extra: str) -> dict[str, str]:
    return cli_env(REDIS_URL=redis_url, HOOKROUTER_MASTER_KEY=MASTER_KEY, **extra)


def one_line(result: subprocess.CompletedProcess[str], code: int = 2) -> str:
    """The single line a mistake prints on stderr, checked to be one line, with nothing on stdout."""
    assert result.returncode == code, result.stdout + result.stderr
    assert result.stdout == "" and result.stderr.count("\n") == 1, result.stderr
    return result.stderr.rstrip("\n")


@pytest.mark.parametrize(
    ("args", "settings", "line"),
    [
        (
            ["events", "list", "--status", "bogus"],
            {},
            "hookrouter: Invalid value for '--status': 'bogus' is not one of 'received', 'routed', 'unmatched', "
            "'delivered', 'failed', 'dead'.",
        ),
        (
            ["replay", "--since", "1h", "--mode", "again"],
            {},
            "hookrouter: Invalid value for '--mode': 'again' is not one of 'reroute', 'redeliver'.",
        ),
        (
            ["events", "list", "--since", "yesterday"],
            {"HOOKROUTER_DATA_DIR": "unused"},
            "hookrouter: Invalid value for --since: 'yesterday': give an ISO date or time (2024-05-01, "
            "2024-05-01T12:00:00Z) or 30m, 2h, 3d",
        ),
        (
            ["events", "list"],
            {"HOOKROUTER_PORT": "abc"},
            "hookrouter: invalid setting HOOKROUTER_PORT: Input should be a valid integer, unable to parse string as "
            "an integer",
        ),
        (
            ["keys", "list"],
            {"REDIS_URL": "localhost:6379"},
            "hookrouter: invalid setting REDIS_URL: must be a redis://, rediss://, unix://, redis+cluster:// or "
            "rediss+cluster:// URL",
        ),
        (
            ["keys", "list"],
            {"HOOKROUTER_REDIS_URL": "localhost:6379"},
            "hookrouter: invalid setting HOOKROUTER_REDIS_URL: must be a redis://, rediss://, unix://, "
            "redis+cluster:// or rediss+cluster:// URL",
        ),
        (
            ["apply", "-f", "missing.yaml"],
            {},
            "hookrouter: Invalid value for '--file' / '-f': file 'missing.yaml' does not exist.",
        ),
        (["evnets", "list"], {}, "hookrouter: No such command 'evnets'. Did you mean 'events'?"),
        (
            ["forward", "--workflow", "wf-1", "--to", "localhost:3000"],
            {},
            "hookrouter: Invalid value for --to: an http:// or https:// URL, such as http://localhost:3000/hook",
        ),
    ],
)
def test_an_ordinary_mistake_is_one_line_on_stderr_and_exit_status_2(
    args: list[str], settings: dict[str, str], line: str, tmp_path: Path
) -> None:
    result = hookrouter(*args, env=cli_env(**settings), cwd=tmp_path)
    assert one_line(result) == line
    assert not (tmp_path / ".hookrouter").exists()  # refused before any store was started


def test_an_unreachable_redis_is_one_line(tmp_path: Path) -> None:
    url = refused_url().replace("http://", "redis://")
    for args in (["events", "list"], ["keys", "list"], ["apply", "-f", str(EXAMPLE)]):
        line = one_line(hookrouter(*args, env=store_env(url), cwd=tmp_path))
        assert line.startswith("hookrouter: cannot reach Redis: Error 111 connecting to 127.0.0.1:"), line


def test_read_commands_never_start_an_empty_store(tmp_path: Path) -> None:
    for args in (["events", "list"], ["events", "show", "1-0"], ["keys", "list"], ["replay", "--since", "1h"]):
        line = one_line(hookrouter(*args, env=cli_env(), cwd=tmp_path))
        assert line == (
            f"hookrouter: no hookrouter is running with data directory {tmp_path.resolve()}/.hookrouter: start "
            "`hookrouter serve` there, or point HOOKROUTER_DATA_DIR (or REDIS_URL) at the store to read"
        )
    assert not (tmp_path / ".hookrouter").exists()


def test_every_command_finds_the_data_directory_of_the_folder_it_runs_in_or_above(tmp_path: Path) -> None:
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    (project / "src" / "deep").mkdir(parents=True)
    elsewhere.mkdir()
    port = free_port()
    token = "quickstart-admin-token-for-local-use-only"
    env = cli_env(HOOKROUTER_PORT=str(port), HOOKROUTER_ADMIN_TOKEN=token, HOOKROUTER_CONSUMER_NAME="habits")
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "router", "serve", "--apply", str(EXAMPLE)],
            env=env,
            cwd=project,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _healthy(port, proc, log)
        sent = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "send_test_webhook.py")],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert sent.returncode == 0, sent.stdout + sent.stderr  # it found the port in HOOKROUTER_PORT
        event_id = json.loads(sent.stdout.split("\n", 1)[1])["id"]  # after the line with the POST's answer
        listed = hookrouter("events", "list", "--json", env=cli_env(), cwd=project / "src" / "deep")
        assert listed.returncode == 0, listed.stderr
        page = json.loads(listed.stdout)
        assert page["total"] == 1 and page["data"][0]["id"] == event_id
        # The same state under the same name as the admin API: status routed, routing outcome matched.
        assert (page["data"][0]["status"], page["data"][0]["routing"]) == ("routed", "matched")
        away = hookrouter("events", "list", env=cli_env(), cwd=elsewhere)
        assert "no hookrouter is running with data directory" in one_line(away)
        assert not (elsewhere / ".hookrouter").exists()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _healthy(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "serve did not become healthy in 30 s:\n" + log.read_text()
        time.sleep(0.1)


async def test_lists_print_whole_ids_on_a_narrow_terminal_and_json_on_request(
    seed: Seed, redis: Redis, registry: Registry, redis_url: str, settings: Settings, tmp_path: Path
) -> None:
    await seed_slack(seed)
    ids = await post_events(settings, 2)
    await route_all(redis, registry)
    narrow = hookrouter("events", "list", env=store_env(redis_url, COLUMNS="80"), cwd=tmp_path)
    assert narrow.returncode == 0, narrow.stderr
    for event_id in ids:
        assert re.search(rf"(^|\s){re.escape(event_id)}(\s|$)", narrow.stdout, re.MULTILINE), narrow.stdout
    as_json = hookrouter("events", "list", "--json", env=store_env(redis_url, COLUMNS="80"), cwd=tmp_path)
    page = json.loads(as_json.stdout)
    assert [row["id"] for row in page["data"]] == ids[::-1] and page["total"] == 2
    assert {row["status"] for row in page["data"]} == {"routed"} and {r["routing"] for r in page["data"]} == {"matched"}
    assert page["data"][0]["jobs"] == [f"{ids[1]}:wf-1:cred-u1"]
    shown = json.loads(hookrouter("events", "show", ids[0], "--json", env=store_env(redis_url), cwd=tmp_path).stdout)
    assert (shown["status"], shown["routing"]["status"]) == ("routed", "matched")
    created = hookrouter(
        "keys", "create", "--name", "ci", "--scope", "operator", env=store_env(redis_url), cwd=tmp_path
    )
    assert created.returncode == 0, created.stderr
    keys = json.loads(hookrouter("keys", "list", "--json", env=store_env(redis_url), cwd=tmp_path).stdout)
    assert [(k["name"], k["scopes"], k["revoked"]) for k in keys] == [("ci", ["operator"], False)]
    assert created.stdout.strip() not in json.dumps(keys)  # never the secret


def test_version_and_shell_completion(tmp_path: Path) -> None:
    version = hookrouter("--version", env=cli_env(), cwd=tmp_path)
    assert version.returncode == 0 and version.stdout == f"hookrouter {importlib.metadata.version('hookrouter')}\n"
    # The script as --show-completion prints it for bash, without detecting the caller's shell (a test runner
    # started by no shell has none to detect).
    script = hookrouter(env=cli_env(_HOOKROUTER_COMPLETE="source_bash"), cwd=tmp_path)
    assert script.returncode == 0 and "_HOOKROUTER_COMPLETE=complete_bash" in script.stdout
    words = {"COMP_WORDS": "hookrouter events list --status ", "COMP_CWORD": "4"}
    completed = hookrouter(env=cli_env(_HOOKROUTER_COMPLETE="complete_bash", **words), cwd=tmp_path)
    assert completed.returncode == 0 and completed.stdout.split() == list(STATUSES)


def test_the_status_choices_are_the_admin_apis() -> None:
    from typing import get_args

    from router.cli.events import StatusName

    assert get_args(StatusName) == STATUSES


def test_a_bug_still_shows_its_traceback(tmp_path: Path) -> None:
    # Only ordinary mistakes are shortened: anything else keeps what its fixer needs.
    (tmp_path / "sitecustomize.py").write_text(
        "import router.runtime.bootstrap as b\n"
        "def broken(*a, **k):\n    raise ZeroDivisionError('a bug')\n"
        "b.data_dir = broken\n"
    )
    env = cli_env(PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))
    result = hookrouter("events", "list", env=env, cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" in result.stderr and "ZeroDivisionError: a bug" in result.stderr


def test_the_readmes_slack_alerting_example_applies(redis_url: str, tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("**Alerting in Slack**", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    config = tmp_path / "config.yaml"
    config.write_text(EXAMPLE.read_text() + "\n" + textwrap.dedent(block))
    url = "https://hooks.slack.com/services/T000/B000/XXXXXXXX"
    env = store_env(redis_url, HOOKROUTER_PREFIX="readme-slack", SLACK_ALERTS_WEBHOOK_URL=url)
    applied = hookrouter("apply", "-f", str(config), env=env, cwd=tmp_path)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert re.search(r"destination\s+│\s+oncall-slack\s+│\s+created", applied.stdout), applied.stdout
    assert url not in applied.stdout  # the URL is a secret
