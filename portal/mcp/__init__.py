"""Tools for AI agents over the Model Context Protocol: Streamable HTTP at /mcp in the app,
and stdio with `servicebay mcp`. Authenticated and scoped by API tokens, like the API."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from mcp.server import MCPServer
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.transport_security import TransportSecuritySettings
from servicebay.core import identity
from servicebay.core.database import transaction
from servicebay.core.settings import Settings
from servicebay.portal.mcp.runner import ToolRunner
from servicebay.portal.mcp.tools import INSTRUCTIONS, add_resources, agent_tools

PATH = "/mcp"


class TokenLookup(TokenVerifier):
    """The API's token lookup, for the SDK's bearer check: no token, or one that is
    unknown, revoked or expired, answers 401 with ``WWW-Authenticate: Bearer``."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    async def verify_token(self, token: str) -> AccessToken | None:
        # On a worker thread, as the API looks its caller up: never block the event loop.
        return await anyio.to_thread.run_sync(self._lookup, token)

    def _lookup(self, value: str) -> AccessToken | None:
        with transaction(self.sessions) as db:
            found = identity.user_for_token(db, value=value)
            if found is None:
                return None
            user, token = found
            return AccessToken(
                token=value,
                client_id=f"token-{token.id}",
                scopes=list(token.scopes),
                subject=str(user.id),
            )


def build(
    sessions: sessionmaker[Session], settings: Settings, *, stdio_token: str | None = None
) -> MCPServer:
    """The server with every tool; over HTTP (no ``stdio_token``) behind the bearer check."""
    http = stdio_token is None
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    runner = ToolRunner(sessions, settings, token=stdio_token)
    server: MCPServer = MCPServer(
        "servicebay",
        tools=agent_tools(runner),
        title="servicebay service catalog",
        instructions=INSTRUCTIONS,
        version="0.1.0",
        token_verifier=TokenLookup(sessions) if http else None,
        auth=AuthSettings(issuer_url=settings.base_url, resource_server_url=None) if http else None,
    )
    # The SDK configures the root logger when it builds a server; core.logs decides that.
    root.handlers[:] = handlers
    root.setLevel(level)
    add_resources(server, runner)
    return server


def http_app(server: MCPServer) -> ASGIApp:
    """A fresh Streamable HTTP app (and session manager) for one run of the portal.

    Stateless with JSON answers: any web process answers any call, as behind a load
    balancer. The SDK's DNS-rebinding guard (Host and Origin allow-lists) is off: it
    protects servers that take calls without a credential, and every call here carries a
    bearer token that a browser never attaches by itself.
    """
    return server.streamable_http_app(
        streamable_http_path=PATH,
        stateless_http=True,
        json_response=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )


@asynccontextmanager
async def running(server: MCPServer) -> AsyncIterator[ASGIApp]:
    """Serve ``server`` over HTTP for as long as the block runs (the app's lifespan)."""
    app = http_app(server)
    async with server.session_manager.run():
        yield app


class Endpoint:
    """The route at /mcp: hands each call to the app that the portal's lifespan runs."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler: ASGIApp | None = getattr(scope["app"].state, "mcp_http", None)
        if handler is None:
            answer = JSONResponse({"detail": "the agent tools are not running"}, status_code=503)
            await answer(scope, receive, send)
            return
        # A copy: the SDK's app puts itself in the scope as "app", and the portal's own
        # middleware reads its settings from there once the call returns.
        await handler(dict(scope), receive, send)
