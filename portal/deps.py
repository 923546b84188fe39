"""Route dependencies: database session, current user, load-or-404 helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from servicebay.catalog import live_options
from servicebay.catalog.live_options import LiveOptions
from servicebay.core import identity, ratelimit
from servicebay.core.database import reads_only, transaction
from servicebay.core.identity import ApiToken, User
from servicebay.core.outbound import OutboundPolicy
from servicebay.core.settings import Settings
from servicebay.portal import navigation
from servicebay.portal.proxy_auth import from_trusted_proxy, proxy_user
from servicebay.portal.security import SESSION_COOKIE, check_csrf
from servicebay.requests import service as requests_service
from servicebay.requests.models import Request as ServiceRequest

RATE_WINDOW = timedelta(minutes=1)


async def get_db(request: Request) -> AsyncIterator[Session]:
    """One transaction per HTTP request: committed when the route returns normally.

    Opening a session touches no database, so it happens here; the commit (or the
    rollback) runs on a worker thread, all of it in one hop.
    """
    session: Session = request.app.state.sessions()
    request.state.rate_hits = []
    try:
        yield session
    except BaseException:
        await run_in_threadpool(_roll_back, request, session)
        raise
    await run_in_threadpool(_commit, request, session)


def _commit(request: Request, session: Session) -> None:
    try:
        session.commit()
    except BaseException:
        session.rollback()
        _keep_rate_hits(request)
        raise
    finally:
        session.close()


def _roll_back(request: Request, session: Session) -> None:
    try:
        session.rollback()
        _keep_rate_hits(request)
    finally:
        session.close()


def _keep_rate_hits(request: Request) -> None:
    """Attempts count even when the request fails, or failing would be a way around limits."""
    hits: list[tuple[str, int, str]] = request.state.rate_hits
    if hits:
        with transaction(request.app.state.sessions) as session:
            for key, limit, what in hits:
                ratelimit.hit(
                    session, key=key, limit=limit, window=RATE_WINDOW, what=what, enforce=False
                )


# "function" scope: the transaction commits before the response leaves, so the page a
# redirect leads to (read on another connection) already sees what the post wrote.
DbSession = Annotated[Session, Depends(get_db, scope="function")]


def get_analytics_db(request: Request, db: DbSession) -> Iterator[Session]:
    """A session for insights, which only read: on the analytics database (a replica) when
    one is configured, else the request's own session. Nothing it reads is written back."""
    factory: sessionmaker[Session] | None = request.app.state.analytics_sessions
    if factory is None:
        yield db
        return
    session = factory()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


AnalyticsSession = Annotated[Session, Depends(get_analytics_db, scope="function")]


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


AppSettings = Annotated[Settings, Depends(get_settings)]


def get_live_options(settings: AppSettings) -> LiveOptions:
    """The process's live form options, fetched under the outbound policy of the settings."""
    return live_options.for_policy(OutboundPolicy.from_settings(settings))


FormOptions = Annotated[LiveOptions, Depends(get_live_options)]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


PAGES_TAKE_NO_TOKENS = (
    "pages know people by their sign-in, not by API tokens; "
    "send bearer tokens to the API under /api/v1"
)


def page_caller(request: Request, db: DbSession, settings: AppSettings) -> User | None:
    """The person on a page, by sign-in cookie or trusted proxy; None when anonymous.
    With them, what every page's top bar shows (unread notifications, tabs).

    A bearer token is refused here (401): tokens have scopes, and pages would act with
    the user's full rights. The one decision for every page route.
    """
    if _bearer(request) is not None and not from_trusted_proxy(request, settings):
        raise HTTPException(401, PAGES_TAKE_NO_TOKENS)
    request.state.token_scopes = None
    return _signed_in(request, db, settings, with_top_bar=True)


def _signed_in(
    request: Request, db: Session, settings: Settings, *, with_top_bar: bool = False
) -> User | None:
    key = request.cookies.get(SESSION_COOKIE)
    signed_in: User | None = proxy_user(request, db, settings)
    if signed_in is None and key:
        signed_in = identity.user_for_session(
            db,
            key=key,
            idle=timedelta(minutes=settings.session_idle_minutes),
            absolute=timedelta(hours=settings.session_absolute_hours),
        )
    request.state.user = signed_in
    if with_top_bar:
        # Every page's top bar: read with the sign-in, in the same trip to a worker
        # thread and the same transaction, fresh on every page.
        request.state.unread, request.state.tabs = (
            navigation.top_bar_of(db, signed_in) if signed_in is not None else (0, [])
        )
    _end_lookup(db)
    return signed_in


def _token_user(request: Request, db: Session, value: str) -> User:
    found = _look_up_token(db, value)
    if found is None:
        raise HTTPException(
            401, "invalid, expired or revoked token", {"WWW-Authenticate": "Bearer"}
        )
    user, token = found
    request.state.token_scopes = list(token.scopes)
    request.state.user = user
    _end_lookup(db)
    return user


def _look_up_token(db: Session, value: str) -> tuple[User, ApiToken] | None:
    """The token's user and token. On SQLite the lookup only reads (beside the writers,
    without the write lock); the rare lookup that records the token's use (once a
    minute) is done again as a writer."""
    if db.get_bind().dialect.name != "sqlite" or db.in_transaction():
        return identity.user_for_token(db, value=value)
    reads_only(db)
    found = identity.user_for_token(db, value=value)
    if not (db.dirty or db.new or db.deleted):
        return found
    db.rollback()
    return identity.user_for_token(db, value=value)


def _end_lookup(db: Session) -> None:
    """On SQLite, commit the sign-in lookup now: there every transaction holds the write
    lock, and a lock held while the request waits for a worker thread can starve the
    pool. PostgreSQL goes on in the same transaction (one connection checkout less)."""
    if db.get_bind().dialect.name == "sqlite":
        db.commit()


MaybeUser = Annotated[User | None, Depends(page_caller)]


async def submitted_form(request: Request) -> FormData:
    return await request.form()


SubmittedForm = Annotated[FormData, Depends(submitted_form)]


class LoginRequired(Exception):
    """A page needs a signed-in user; answered with a redirect to the sign-in page."""


def api_caller(request: Request, db: DbSession, settings: AppSettings) -> User | None:
    """The API's caller by bearer token (within its scopes) or by sign-in cookie; None
    when anonymous. A plain function: FastAPI runs it on a worker thread, so its database
    lookup never blocks the event loop (on SQLite a blocked loop can hold up the commit
    that would free the write lock)."""
    token_value = _bearer(request)
    if token_value is not None:
        user = _token_user(request, db, token_value)
        if request.method in ("GET", "HEAD"):
            require_scope(request, "read")
        return user
    request.state.token_scopes = None
    return _signed_in(request, db, settings)


async def api_user(request: Request, caller: Annotated[User | None, Depends(api_caller)]) -> User:
    """A signed-in browser must also prove with the CSRF token that the call is its own."""
    if caller is None:
        raise HTTPException(401, "sign in or send a bearer token", {"WWW-Authenticate": "Bearer"})
    if request.state.token_scopes is None:
        await check_csrf(request)
    return caller


ApiUser = Annotated[User, Depends(api_user)]


def limit_rate(request: Request, db: Session, *, action: str, limit: int, who: str) -> None:
    """Count one ``action`` by ``who``; RateLimited (429) past ``limit`` a minute."""
    key, what = f"{action}:{who}", action.replace("_", " ")
    request.state.rate_hits.append((key, limit, what))
    ratelimit.hit(db, key=key, limit=limit, window=RATE_WINDOW, what=what)


def require_scope(request: Request, scope: str) -> None:
    """A token acts only within its scopes; a browser session has the user's full rights."""
    identity.require_scope(request.state.token_scopes, scope)


async def page_user(user: MaybeUser) -> User:
    if user is None:
        raise LoginRequired()
    return user


PageUser = Annotated[User, Depends(page_user)]


def viewable_request(request_id: int, db: DbSession, user: ApiUser) -> ServiceRequest:
    """The request in the path, if the caller may see it; otherwise 404, never 403."""
    return requests_service.get_for_viewer(db, request_id=request_id, viewer=user)


ViewableRequest = Annotated[ServiceRequest, Depends(viewable_request)]
