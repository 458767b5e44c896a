"""The baseline for bench/ingest.py: a Starlette POST endpoint that reads the body and answers 200.

    python bench/bare_app.py --port 8001

Served exactly as ``hookrouter serve`` serves its app (router/cli/main.py, ``server_options``): one uvicorn
process, uvicorn's default loop (uvloop when installed), the bounded httptools protocol with the same limits,
the same log configuration, the same proxy options (proxy headers ignored unless
HOOKROUTER_TRUSTED_PROXIES names the peer) and ``server_header=False``. Any difference between the two
measurements is therefore hookrouter's own work per request.
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from router import logs
from router.cli.main import server_options
from router.settings import Settings

PATH = "/webhook/triggers/connect/slack/bench-slack"  # same path as the hookrouter run; the router ignores it


async def receive(request: Request) -> Response:
    await request.body()
    return Response(b'{"ok":true}', status_code=200, media_type="application/json")


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


app = Starlette(routes=[Route(PATH, receive, methods=["POST"]), Route("/healthz", health)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args()
    logs.setup(args.log_level)  # as cli._settings() does before serving
    options = server_options(Settings(), args.port) | {"host": args.host, "log_config": logs.config(args.log_level)}
    uvicorn.run(app, **options)


if __name__ == "__main__":
    main()
