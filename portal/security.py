"""Browser-facing protections: sign-in cookie, CSRF token, security headers, no caching.

A CSRF token is never a value the client picks. A browser that carries a session key gets
an HMAC of that key under the server's secret key, so the token changes whenever the
session does (at sign-in) and a token of one session is worthless in another. A browser
without one (the sign-in form) gets a pre-session token: a random value with its own HMAC.
The ``sb_csrf`` cookie only hands the token to clients that cannot read the page; the
server computes what it expects and never believes the cookie alone.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from urllib.parse import urlsplit

from fastapi import Request
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicebay.core.errors import Denied
from servicebay.core.settings import Settings

SESSION_COOKIE = "sb_session"
CSRF_COOKIE = "sb_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)


def content_security_policy(settings: Settings) -> str:
    """The pages' CSP. With company sign-in, the sign-out form may lead on to the identity
    provider (browsers hold a form's redirects to ``form-action`` too)."""
    if not settings.oidc_issuer:
        return CONTENT_SECURITY_POLICY
    parts = urlsplit(settings.oidc_issuer)
    return CONTENT_SECURITY_POLICY.replace(
        "form-action 'self'", f"form-action 'self' {parts.scheme}://{parts.netloc}"
    )


class CsrfRejected(Denied):
    """A state-changing browser request without the matching CSRF token."""


def cookie_is_secure(settings: Settings) -> bool:
    """Every cookie of the portal is ``Secure`` when the portal is served over https."""
    return settings.base_url.startswith("https://")


class CsrfTokens:
    """Makes and recognises CSRF tokens with a key derived from the server's secret key."""

    def __init__(self, secret_key: str) -> None:
        derive = hmac.new(secret_key.encode(), b"servicebay csrf tokens", hashlib.sha256)
        self._key = derive.digest()

    def _sign(self, message: str) -> str:
        return hmac.new(self._key, message.encode(), hashlib.sha256).hexdigest()

    def for_session(self, session_key: str) -> str:
        return "s." + self._sign("session:" + session_key)

    def new_pre_session(self) -> str:
        nonce = secrets.token_urlsafe(24)
        return f"p.{nonce}.{self._sign('pre-session:' + nonce)}"

    def is_pre_session(self, token: str) -> bool:
        kind, _, rest = token.partition(".")
        nonce, _, signature = rest.partition(".")
        return (
            kind == "p"
            and bool(nonce)
            and hmac.compare_digest(signature, self._sign("pre-session:" + nonce))
        )

    def of(self, request: Request) -> str:
        """The token this browser's forms must carry, as its cookies stand."""
        return self.of_cookies(request.cookies)

    def of_cookies(self, cookies: Mapping[str, str]) -> str:
        session_key = cookies.get(SESSION_COOKIE)
        if session_key:
            return self.for_session(session_key)
        carried = cookies.get(CSRF_COOKIE, "")
        return carried if self.is_pre_session(carried) else self.new_pre_session()


def csrf_tokens(request: Request) -> CsrfTokens:
    tokens: CsrfTokens | None = getattr(request.app.state, "csrf_tokens", None)
    if tokens is None:
        settings: Settings = request.app.state.settings
        tokens = request.app.state.csrf_tokens = CsrfTokens(settings.resolved_secret_key())
    return tokens


def renew_csrf_token(request: Request, *, session_key: str | None) -> None:
    """After sign-in (the new session's key) or sign-out (None): the answer carries a new
    token, so no token of the browser's previous state stays valid."""
    tokens = csrf_tokens(request)
    request.state.csrf_token = (
        tokens.for_session(session_key) if session_key else tokens.new_pre_session()
    )


class SecurityHeaders:
    """Give every browser its CSRF token, every answer the security headers, and keep
    answers to a signed-in caller out of every cache (Back after sign-out shows nothing).

    Plain ASGI: it reads the cookies before the route and edits the answer's headers as
    they leave, without wrapping the request and response in objects of its own.
    """

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.tokens = CsrfTokens(settings.resolved_secret_key())
        self.policy = content_security_policy(settings)
        self.secure = cookie_is_secure(settings)
        self.fixed = [
            (b"content-security-policy", self.policy.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
            (b"x-frame-options", b"DENY"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookies = HTTPConnection(scope).cookies
        state = scope.setdefault("state", {})
        state["csrf_token"] = self.tokens.of_cookies(cookies)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                token = state.get("csrf_token", "")
                if token != cookies.get(CSRF_COOKIE):
                    headers.append("set-cookie", self._csrf_cookie(token))
                if state.get("user") is not None:
                    headers["Cache-Control"] = "no-store"
                present = {name for name, _ in headers.raw}
                for name, value in self.fixed:
                    if name not in present:
                        headers.raw.append((name, value))
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _csrf_cookie(self, token: str) -> str:
        """The Set-Cookie value; a token holds only URL-safe characters, so it is
        written as it is (as the cookie library would write it)."""
        secure = "; Secure" if self.secure else ""
        return f"{CSRF_COOKIE}={token}; HttpOnly; Path=/; SameSite=lax{secure}"


async def check_csrf(request: Request) -> None:
    """Refuse a state-changing browser request that does not carry this browser's token."""
    if request.method not in UNSAFE_METHODS:
        return
    expected: str = request.state.csrf_token
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent and "form" in request.headers.get("content-type", ""):
        form = await request.form()
        value = form.get(CSRF_FIELD, "")
        sent = value if isinstance(value, str) else ""
    if not sent or not hmac.compare_digest(expected.encode(), sent.encode()):
        raise CsrfRejected("the form has expired or did not come from this site; reload and retry")
