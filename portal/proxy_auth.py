"""Trusted reverse proxies: the caller's address they forward, and sign-in by their
headers, as oauth2-proxy and similar set them."""

from __future__ import annotations

import ipaddress

from fastapi import HTTPException, Request
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from servicebay.core import identity
from servicebay.core.identity import User
from servicebay.core.settings import Settings

# Where the connecting address is kept once X-Forwarded-For has replaced the client's.
PEER = "servicebay.peer"

UNUSABLE_NAME = (
    "The sign-in proxy sent a user name servicebay cannot use as it is: names have 2 to 64 "
    "letters, digits, '.', '_', '@' or '-'. Rather than change it, and risk two people "
    "sharing one account, servicebay refuses it; ask an administrator."
)


class TrustedProxyHeaders:
    """X-Forwarded-For and X-Forwarded-Proto believed only from the configured proxies.

    uvicorn's own middleware does the parsing (the client is the last address in the
    chain that is not a trusted proxy); with no proxy configured nothing is believed.
    """

    def __init__(self, app: ASGIApp, *, trusted: list[str]) -> None:
        networks = [str(ipaddress.ip_network(network, strict=False)) for network in trusted]
        self.app = app
        if networks:
            self.app = ProxyHeadersMiddleware(app, trusted_hosts=networks)  # type: ignore[arg-type,assignment]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope[PEER] = scope.get("client")
        await self.app(scope, receive, send)


def from_trusted_proxy(request: Request, settings: Settings) -> bool:
    """The connection itself comes from a configured proxy, and proxy sign-in is on."""
    peer = request.scope.get(PEER) or request.client
    if not settings.proxy_auth or not peer:
        return False
    try:
        address = ipaddress.ip_address(peer[0])
    except ValueError:
        return False
    return any(
        address in ipaddress.ip_network(network, strict=False)
        for network in settings.trusted_proxies
    )


def proxy_user(request: Request, session: Session, settings: Settings) -> User | None:
    """The user the proxy vouches for, created on first sight; None without the header.

    Headers from any address that is not a configured proxy are ignored. A name is taken
    exactly as sent or refused (403): never changed to fit, which would map different
    people to one account.
    """
    if not from_trusted_proxy(request, settings):
        return None
    username = request.headers.get(settings.proxy_user_header, "").strip()
    if not username:
        return None
    if not identity.is_username(username):
        raise HTTPException(403, UNUSABLE_NAME)
    user = identity.user_from_proxy(
        session,
        username=username,
        email=request.headers.get(settings.proxy_email_header, "").strip(),
    )
    if settings.proxy_groups_header:
        groups = request.headers.get(settings.proxy_groups_header, "")
        identity.follow_groups(
            session, user=user, team_slugs={g.strip() for g in groups.split(",") if g.strip()}
        )
    return user if user.is_active else None
