"""Sign in and sign out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from servicebay.core import identity
from servicebay.core.ratelimit import RateLimited
from servicebay.portal.deps import AppSettings, DbSession, limit_rate
from servicebay.portal.render import render
from servicebay.portal.security import SESSION_COOKIE, cookie_is_secure, renew_csrf_token

router = APIRouter()


def _safe_next(target: str) -> str:
    # Only local paths: an open redirect would let a link send people elsewhere.
    return target if target.startswith("/") and not target.startswith("//") else "/"


@router.get("/login", name="login")
def login_page(request: Request, next: str = "/") -> Response:
    return render(request, "auth/login.html", {"next": _safe_next(next), "error": None})


@router.post("/login", name="login_submit")
def login_submit(
    request: Request,
    db: DbSession,
    settings: AppSettings,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    address = request.client.host if request.client else "unknown"
    try:
        limit_rate(
            request,
            db,
            action="sign_in_attempts",
            limit=settings.rate_limit_login,
            who=f"address:{address}",
        )
        limit_rate(
            request,
            db,
            action="sign_in_attempts",
            limit=settings.rate_limit_login,
            who=f"user:{username.strip().lower()}",
        )
    except RateLimited as limited:
        context = {
            "next": _safe_next(next),
            "username": username,
            "error": f"Too many sign-in attempts. Try again in {limited.retry_after} s.",
        }
        return render(
            request,
            "auth/login.html",
            context,
            status_code=429,
            headers={"Retry-After": str(limited.retry_after)},
        )
    user = identity.authenticate(db, username=username.strip(), password=password)
    if user is None:
        context = {
            "next": _safe_next(next),
            "error": "Wrong username or password.",
            "username": username,
        }
        return render(request, "auth/login.html", context, status_code=401)
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:
        # A session key the browser already carried is never carried over (fixation).
        identity.end_session(db, key=previous)
    key = identity.start_session(db, user=user)
    renew_csrf_token(request, session_key=key)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        key,
        httponly=True,
        samesite="lax",
        secure=cookie_is_secure(settings),
        path="/",
    )
    return response


@router.post("/logout", name="logout")
def logout(request: Request, db: DbSession, settings: AppSettings) -> Response:
    key = request.cookies.get(SESSION_COOKIE)
    if key:
        identity.end_session(db, key=key)
    renew_csrf_token(request, session_key=None)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=cookie_is_secure(settings)
    )
    return response
