"""Send a correctly signed Slack event to a running hookrouter and show it stored and routed.

    python examples/send_test_webhook.py [--url http://127.0.0.1:8000]

The URL defaults to the one `hookrouter serve` listens on with the same settings (HOOKROUTER_HOST and
HOOKROUTER_PORT). Uses the signing secret from examples/quickstart.yaml and the admin token from
HOOKROUTER_ADMIN_TOKEN (default: the Quickstart's).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import httpx

import verifiers
from router.settings import Settings

SECRET = "quickstart-signing-secret"
PATH = "/webhook/triggers/connect/slack/slack-app"


def main() -> int:
    settings = Settings()
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host  # noqa: S104 (not binding)
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default=f"http://{host}:{settings.port}")
    base = parser.parse_args().url.rstrip("/")
    token = os.environ.get("HOOKROUTER_ADMIN_TOKEN", "quickstart-admin-token-for-local-use-only")
    body = json.dumps(
        {
            "type": "event_callback",
            "team_id": "T0QUICKSTART",
            "event_id": f"Ev{int(time.time())}",
            "event": {
                "type": "message",
                "channel": "C1",
                "channel_type": "channel",  # a public channel: fires the "Channel Message Sent" trigger
                "user": "U1",
                "text": "hello from the quickstart",
            },
        }
    ).encode()
    headers = verifiers.sign("slack", secrets=[SECRET], body=body, headers={"content-type": "application/json"})
    with httpx.Client(base_url=base, timeout=10) as http:
        sent = http.post(PATH, content=body, headers=headers)
        print(f"POST {PATH} -> {sent.status_code} {sent.text}")
        if sent.status_code != 200:
            return 1
        event_id = sent.json()["ids"][0]
        auth = {"authorization": f"Bearer {token}"}
        for _ in range(50):  # the routing worker picks the event up within a moment
            event = http.get(f"/api/events/{event_id}", headers=auth).json()
            if event.get("routing", {}).get("status") != "received":
                break
            time.sleep(0.1)
        print(
            json.dumps({k: event[k] for k in ("id", "integration", "provider_id", "event_type", "routing")}, indent=2)
        )
        return 0 if event["routing"]["status"] == "matched" else 1


if __name__ == "__main__":
    sys.exit(main())
