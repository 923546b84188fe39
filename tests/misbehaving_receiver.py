"""Webhook receivers on 127.0.0.1 that answer badly on purpose: slowly or at great length.

Each reads the request (headers and body), then writes its answer the way it was told
to, for as long as the client listens; a client that hangs up ends it.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

MiB = 1024 * 1024
HEADERS = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n"


def drip(interval: float, count: int = 200) -> Callable[[socket.socket], None]:
    """Full headers at once, then the body one byte every ``interval`` seconds."""

    def answer(connection: socket.socket) -> None:
        connection.sendall(HEADERS + f"content-length: {count}\r\n\r\n".encode())
        for _ in range(count):
            time.sleep(interval)
            connection.sendall(b" ")

    return answer


def slow_headers(interval: float, count: int = 200) -> Callable[[socket.socket], None]:
    """The status line, then one byte of a long header every ``interval`` seconds."""

    def answer(connection: socket.socket) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\nx-slow: ")
        for _ in range(count):
            time.sleep(interval)
            connection.sendall(b"a")

    return answer


def large(size: int, *, declared: bool) -> Callable[[socket.socket], None]:
    """A 200 whose body is ``size`` bytes, with or without a content-length header."""

    def answer(connection: socket.socket) -> None:
        length = f"content-length: {size}\r\n" if declared else ""
        connection.sendall(HEADERS + length.encode() + b"\r\n")
        chunk = b"x" * (64 * 1024)
        for _ in range(size // len(chunk)):
            connection.sendall(chunk)

    return answer


@dataclass
class MisbehavingReceiver:
    answer: Callable[[socket.socket], None]
    requests: int = 0
    _server: socket.socket = field(init=False)
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        host, port = self._server.getsockname()[:2]
        return f"http://{host}:{port}/hook"

    def __enter__(self) -> MisbehavingReceiver:
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.1)
        threading.Thread(target=self._serve, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._server.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(connection,), daemon=True).start()

    def _handle(self, connection: socket.socket) -> None:
        with connection:
            try:
                _read_request(connection)
                self.requests += 1
                self.answer(connection)
            except OSError:
                pass  # the client hung up: what these receivers wait for


def _read_request(connection: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        data += connection.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        body += connection.recv(65536)
