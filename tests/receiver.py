"""A real HTTP webhook receiver on 127.0.0.1 that checks Standard Webhooks signatures.

Its signature check is written here from the scheme, independently of servicebay's
own signing code, so a bug in one cannot hide in the other.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = tuple[int, dict[str, Any] | str]


@dataclass
class Delivery:
    headers: dict[str, str]
    body: dict[str, Any]
    signature_valid: bool
    peer: tuple[str, int] = ("", 0)  # the sender's address and port: one per TCP connection


@dataclass
class Receiver:
    secret: str
    replies: list[Reply | Callable[[Delivery], Reply]] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    default: Reply = (200, {"outputs": {"result": "done"}})
    keep_alive: bool = False  # HTTP/1.1, so a client may send many deliveries on a connection
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    def verify(self, headers: dict[str, str], raw: bytes) -> bool:
        key = self.secret.encode()
        if self.secret.startswith("whsec_"):
            key = base64.b64decode(self.secret[len("whsec_") :])
        content = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + raw
        expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
        offered = [part.split(",", 1)[1] for part in headers.get("webhook-signature", "").split()]
        fresh = abs(time.time() - int(headers["webhook-timestamp"])) < 300
        return fresh and any(hmac.compare_digest(expected, sig) for sig in offered)

    def __enter__(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if receiver.keep_alive else "HTTP/1.0"

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                peer = (str(self.client_address[0]), int(self.client_address[1]))
                delivery = Delivery(headers, json.loads(raw), receiver.verify(headers, raw), peer)
                receiver.deliveries.append(delivery)
                reply = receiver.replies.pop(0) if receiver.replies else receiver.default
                status, body = reply(delivery) if callable(reply) else reply
                payload = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("set-cookie", f"seen={len(receiver.deliveries)}; Path=/")
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()
