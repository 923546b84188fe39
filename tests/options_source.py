"""A real HTTP options source on 127.0.0.1: answers GET with JSON chosen per call, records
what it was asked, and can be made to fail (an error status) or to stop answering."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, Any]


@dataclass
class Asked:
    path: str
    query: dict[str, list[str]]


@dataclass
class OptionsSource:
    """``answer`` gets each call and returns (status, JSON body); ``asked`` lists the calls."""

    answer: Callable[[Asked], Answer] = lambda asked: (200, [])
    asked: list[Asked] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    stopped: bool = False

    @property
    def base(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> OptionsSource:
        source = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                asked = Asked(parts.path, parse_qs(parts.query))
                source.asked.append(asked)
                status, body = source.answer(asked)
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop answering: calls from now on find nobody listening."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.stopped = True

    def __exit__(self, *exc: object) -> None:
        if not self.stopped:
            self.stop()


def clusters(asked: Asked) -> Answer:
    """Clusters by environment and team, as a CMDB might list them."""
    environment = asked.query.get("environment", [""])[0]
    team = asked.query.get("team", [""])[0]
    names = {"production": ["prod-eu", "prod-us"], "staging": ["stage-1"]}.get(environment, [])
    return 200, {
        "clusters": [
            {"id": f"{name}-{team}", "name": f"{name} ({team})", "environment": environment}
            for name in names
        ]
    }
