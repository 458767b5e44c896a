"""A second baseline for bench/ingest.py: the Slack endpoint a user would write by hand in twenty lines.

    python bench/handwritten_app.py --port 8002 --redis unix:///path/redis.sock --secret SECRET

Verify Slack's ``v0`` signature (HMAC-SHA256 over ``v0:<timestamp>:<body>``, constant-time compare, the
timestamp within 300 s either way), read ``team_id`` from the JSON body, XADD the body to a stream, answer
200; on a redis-py client with hiredis, served by uvicorn exactly as ``bare_app.py`` and ``hookrouter serve``
are. No deduplication, no routing, no logging beyond uvicorn's, no metrics: the least a Python service can do
per webhook and still store it verified, so the share of the bare endpoint it reaches bounds what any Python
ingest on this machine can reach.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import time

import uvicorn
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from router import logs
from router.cli.main import server_options
from router.settings import Settings

PATH = "/webhook/triggers/connect/slack/bench-slack"  # same path as the other two runs
STREAM = "handwritten:ingest"


class State:
    redis: Redis
    secret: bytes


state = State()


async def receive(request: Request) -> Response:
    body = await request.body()
    timestamp = request.headers.get("x-slack-request-timestamp", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
        return Response(status_code=401)
    expected = "v0=" + hmac.new(state.secret, b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, request.headers.get("x-slack-signature", "")):
        return Response(status_code=401)
    team = str(json.loads(body).get("team_id", ""))
    entry_id = await state.redis.xadd(STREAM, {"team_id": team, "body": body}, maxlen=100_000, approximate=True)
    return JSONResponse({"ids": [entry_id.decode() if isinstance(entry_id, bytes) else entry_id]})


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


app = Starlette(routes=[Route(PATH, receive, methods=["POST"]), Route("/healthz", health)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis", required=True, help="redis URL, e.g. unix:///tmp/redis.sock")
    parser.add_argument("--secret", required=True)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args()
    state.redis = Redis.from_url(args.redis)
    state.secret = args.secret.encode()
    logs.setup(args.log_level)
    options = server_options(Settings(), args.port) | {"host": args.host, "log_config": logs.config(args.log_level)}
    uvicorn.run(app, **options)


if __name__ == "__main__":
    main()
