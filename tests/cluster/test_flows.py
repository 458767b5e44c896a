"""The main flows' own tests, run again with their Redis a three-master cluster (``HOOKROUTER_TEST_REDIS=cluster``
makes ``tests/conftest.py`` start one): a multi-key command or script whose keys span slots, a command redis-py
refuses in a cluster pipeline, or a script a master never loaded fails them there."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FLOWS = [
    "tests/router/test_ingest.py",  # ingest, handshakes, routing by tenant id
    "tests/router/test_dedup.py",
    "tests/router/test_worker.py",  # routing worker, reclaim, dead letters, retention passes
    "tests/router/test_delivery.py",  # HTTP delivery, retries, ordering
    "tests/router/test_history.py",
    "tests/router/test_replay.py",
    "tests/router/test_replay_copies.py",  # a reroute's copies made by one script per batch
    "tests/router/test_storage_bounds.py",  # retention and trimming of every key family
    "tests/router/test_request_triggers.py",  # responses over pub/sub
    "tests/router/test_shards.py",  # four shards: ingest to retention, merged history, a change of N
]


@pytest.mark.timeout(1200)
def test_the_main_flows_pass_on_a_cluster() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", *FLOWS],
        cwd=ROOT,
        env={**os.environ, "HOOKROUTER_TEST_REDIS": "cluster"},
        capture_output=True,
        text=True,
        timeout=1150,
        check=False,
    )
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-2000:]
    assert done.returncode == 0, done.stdout[-6000:]
    passed = re.search(r"(\d+) passed", summary)
    assert passed is not None and int(passed.group(1)) > 120, summary
    assert "skipped" not in summary and "deselected" not in summary, summary
