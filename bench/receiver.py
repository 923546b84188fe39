"""A minimal webhook receiver for the benchmarks: answers every delivery at once.

POST (any path): a webhook delivery; answered 200 with outputs, its arrival time kept
by request id. GET /arrivals: those times as JSON. DELETE /arrivals: forget them.
Runs in its own process under uvicorn, so it never competes for the benchmark's GIL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import click

Scope = dict[str, Any]
Message = dict[str, Any]
arrivals: dict[str, float] = {}
ANSWER = json.dumps({"outputs": {"received": True}}).encode()


async def app(
    scope: Scope,
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["method"] == "POST":
        arrived = time.time()
        try:
            request_id = str(json.loads(body)["data"]["request"]["id"])
        except (ValueError, KeyError, TypeError):
            request_id = ""
        arrivals[request_id] = arrived
        payload = ANSWER
    elif scope["method"] == "DELETE":
        arrivals.clear()
        payload = b"{}"
    else:
        payload = json.dumps(arrivals).encode()
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


@click.command()
@click.option("--port", type=int, required=True)
def main(port: int) -> None:
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
