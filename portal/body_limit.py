"""A limit on the size of every request body, counted as the bytes arrive."""

from __future__ import annotations

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(
            413, f"the request is larger than the {_size(limit)} this portal accepts; send less"
        )


def _size(count: int) -> str:
    for unit, factor in (("MB", 1024 * 1024), ("KB", 1024)):
        if count >= factor:
            return f"{count / factor:g} {unit}"
    return f"{count} bytes"


class BodySizeLimit:
    """Refuse (413) a request whose body grows past ``max_bytes``.

    The bytes are counted as they arrive, so neither a missing nor a false
    Content-Length gets more through; a Content-Length already over the limit is
    refused before anything is read. The refusal is raised where the route reads its
    body, so the app's error mapping answers it (HTML on pages, JSON on the API).
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared_too_large = _declared_length(scope) > self.max_bytes
        received = 0

        async def counted() -> Message:
            nonlocal received
            if declared_too_large:
                raise BodyTooLarge(self.max_bytes)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, counted, send)


def _declared_length(scope: Scope) -> int:
    """What Content-Length announces (0 without one); only ever a reason to refuse early."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0
