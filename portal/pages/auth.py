"""Sign in (a local password, or the company's OpenID provider) and sign out."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from servicebay.core import identity
from servicebay.core.errors import ServicebayError
from servicebay.core.oidc import CALLBACK_PATH, RelyingParty
from servicebay.core.ratelimit import RateLimited
from servicebay.core.settings import Settings
from servicebay.portal.deps import AppSettings, DbSession, limit_rate
from servicebay.portal.render import render
from servicebay.portal.security import SESSION_COOKIE, cookie_is_secure, renew_csrf_token

router = APIRouter()

STATE_COOKIE = "sb_oidc_state"
LOCAL_SIGN_IN_OFF = "Signing in with a local password is switched off here."


def _safe_next(target: str) -> str:
    # Only local paths: an open redirect would let a link send people elsewhere.
    return target if target.startswith("/") and not target.startswith("//") else "/"


def _relying_party(request: Request) -> RelyingParty | None:
    party: RelyingParty | None = request.app.state.oidc
    return party


def _login_page(
    request: Request,
    settings: Settings,
    *,
    next: str = "/",
    error: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    context = {
        "next": _safe_next(next),
        "error": error,
        "local_sign_in": settings.local_sign_in,
        "provider_name": settings.oidc_provider_name if settings.oidc_enabled else None,
        **extra,
    }
    return render(request, "auth/login.html", context, status_code=status_code, headers=headers)


@router.get("/login", name="login")
def login_page(request: Request, settings: AppSettings, next: str = "/") -> Response:
    return _login_page(request, settings, next=next)


def _count_attempt(request: Request, db: DbSession, settings: Settings, *, who: str) -> None:
    limit_rate(request, db, action="sign_in_attempts", limit=settings.rate_limit_login, who=who)


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/login", name="login_submit")
def login_submit(
    request: Request,
    db: DbSession,
    settings: AppSettings,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    if settings.local_sign_in == "off":
        return _login_page(request, settings, next=next, error=LOCAL_SIGN_IN_OFF, status_code=403)
    try:
        _count_attempt(request, db, settings, who=f"address:{_address(request)}")
        _count_attempt(request, db, settings, who=f"user:{username.strip().lower()}")
    except RateLimited as limited:
        return _login_page(
            request,
            settings,
            next=next,
            username=username,
            error=f"Too many sign-in attempts. Try again in {limited.retry_after} s.",
            status_code=429,
            headers={"Retry-After": str(limited.retry_after)},
        )
    user = identity.authenticate(
        db,
        username=username.strip(),
        password=password,
        admins_only=settings.local_sign_in == "admins",
    )
    if user is None:
        return _login_page(
            request,
            settings,
            next=next,
            username=username,
            error="Wrong username or password.",
            status_code=401,
        )
    return _signed_in(request, db, settings, user=user, next=next)


@router.get("/login/oidc", name="login_oidc")
def login_oidc(request: Request, db: DbSession, settings: AppSettings, next: str = "/") -> Response:
    """Send the browser to the identity provider, with this sign-in's state in a cookie."""
    party = _relying_party(request)
    if party is None:
        return _login_page(
            request,
            settings,
            next=next,
            error="Company sign-in is not set up here.",
            status_code=404,
        )
    try:
        _count_attempt(request, db, settings, who=f"address:{_address(request)}")
        redirect = party.begin(db, next_path=_safe_next(next))
    except ServicebayError as error:
        return _provider_failed(request, settings, error, next=next)
    response = RedirectResponse(redirect.url, status_code=303)
    response.headers["Cache-Control"] = "no-store"
    response.set_cookie(
        STATE_COOKIE,
        redirect.state,
        max_age=600,
        httponly=True,
        samesite="lax",  # sent along when the provider sends the browser back
        secure=cookie_is_secure(settings),
        path=CALLBACK_PATH,
    )
    return response


@router.get(CALLBACK_PATH, name="login_oidc_callback")
def login_oidc_callback(
    request: Request,
    db: DbSession,
    settings: AppSettings,
    state: str = "",
    code: str = "",
    iss: str = "",
    error: str = "",
    error_description: str = "",
) -> Response:
    """The provider sent the browser back: the attempt is used up whatever the outcome."""
    party = _relying_party(request)
    if party is None:
        return _login_page(
            request, settings, error="Company sign-in is not set up here.", status_code=404
        )
    try:
        signed_in = party.finish(
            db,
            state=state,
            browser_state=request.cookies.get(STATE_COOKIE, ""),
            code=code,
            issuer=iss,
            error=error[:100],
            error_description=error_description[:300],
        )
    except ServicebayError as failure:
        response = _provider_failed(request, settings, failure)
    else:
        response = _signed_in(
            request,
            db,
            settings,
            user=signed_in.user,
            next=signed_in.next_path,
            provider_id_token=signed_in.id_token,
        )
    response.delete_cookie(
        STATE_COOKIE,
        path=CALLBACK_PATH,
        httponly=True,
        samesite="lax",
        secure=cookie_is_secure(settings),
    )
    return response


def _provider_failed(
    request: Request, settings: Settings, error: ServicebayError, *, next: str = "/"
) -> Response:
    """The sign-in page again, saying what went wrong, with the local form when it is on."""
    message = str(error)
    message = message[0].upper() + message[1:] if message else "The sign-in failed."
    if not message.endswith("."):
        message += "."
    if settings.local_sign_in != "off" and error.status_code >= 500:
        message += (
            " Administrators can still sign in with a local account below."
            if settings.local_sign_in == "admins"
            else " You can still sign in with a local account below."
        )
    headers = {"Retry-After": str(error.retry_after)} if isinstance(error, RateLimited) else None
    return _login_page(
        request, settings, next=next, error=message, status_code=error.status_code, headers=headers
    )


def _signed_in(
    request: Request,
    db: DbSession,
    settings: Settings,
    *,
    user: identity.User,
    next: str,
    provider_id_token: str | None = None,
) -> Response:
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:
        # A session key the browser already carried is never carried over (fixation).
        identity.end_session(db, key=previous)
    key = identity.start_session(db, user=user, provider_id_token=provider_id_token)
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
    """End the session here and, when it began at the provider, there too."""
    key = request.cookies.get(SESSION_COOKIE)
    id_token = identity.end_session(db, key=key) if key else None
    renew_csrf_token(request, session_key=None)
    party = _relying_party(request)
    target = party.logout_url(id_token=id_token) if party and id_token else None
    response = RedirectResponse(target or "/login", status_code=303)
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=cookie_is_secure(settings)
    )
    return response
