"""The signed-in person's account: profile, teams, personal API tokens."""

from __future__ import annotations

import contextlib

from fastapi import APIRouter, Request
from fastapi.responses import Response

from servicebay.core import chat as core_chat
from servicebay.core import clock, identity, policies, preferences
from servicebay.core.errors import Invalid
from servicebay.core.identity import SCOPES, IdentityError, TokenNotFound, User
from servicebay.core.outbound import OutboundPolicy
from servicebay.core.ratelimit import RateLimited
from servicebay.portal.deps import AppSettings, DbSession, PageUser, SubmittedForm, limit_rate
from servicebay.portal.form_tokens import remember_outcome
from servicebay.portal.render import problem_sentence, render, see_other, url_of

router = APIRouter()


def _page(request: Request, db: DbSession, user: User, **extra: object) -> Response:
    context = {
        "tokens": identity.tokens_of(db, user=user),
        "scopes": [s for s in SCOPES if policies.can_hold_scopes(user, [s])],
        "now": clock.now(),
        "issued": None,
        "preference": preferences.of(db, user_id=user.id),
        "topics": preferences.TOPICS,
        "chat": core_chat.view(core_chat.of_user(db, user_id=user.id)),
        "chat_formats": core_chat.FORMATS,
        "problem": None,
        **extra,
    }
    status = 422 if extra.get("problem") else 200
    return render(request, "account/account_detail.html", context, status_code=status)


@router.get("/account", name="account")
def account(request: Request, db: DbSession, user: PageUser) -> Response:
    return _page(request, db, user)


@router.post("/account/tokens", name="account_token_create")
def create_token(
    request: Request, db: DbSession, user: PageUser, data: SubmittedForm, settings: AppSettings
) -> Response:
    name = str(data.get("name") or "").strip()
    scopes = [s for s in data.getlist("scopes") if isinstance(s, str)]
    days = str(data.get("expires_in_days") or "").strip()
    if not name:
        return _page(request, db, user, problem="Give the token a name, e.g. what uses it.")
    try:
        limit_rate(
            request,
            db,
            action="token_creations",
            limit=settings.rate_limit_tokens,
            who=f"user:{user.id}",
        )
        issued = identity.create_token(
            db,
            user=user,
            name=name[:100],
            scopes=scopes or None,
            expires_in_days=int(days) if days else None,
        )
    except (IdentityError, RateLimited) as error:  # ScopeDenied is an IdentityError
        return _page(request, db, user, problem=str(error).capitalize() + ".")
    except ValueError:
        return _page(request, db, user, problem="The expiry must be a whole number of days.")
    # A repeat of this post cannot show the value again (only its hash is kept).
    remember_outcome(
        request,
        str(url_of(request, "account")),
        notice=f"Your first click already created the token “{issued.token.name}”; its value is "
        "shown only once. If you did not copy it, revoke it and create another.",
        kind="warning",
    )
    return _page(request, db, user, issued=issued.value)


@router.post("/account/tokens/{token_id}/revoke", name="account_token_revoke")
def revoke_token(request: Request, token_id: int, db: DbSession, user: PageUser) -> Response:
    # Not theirs or gone: nothing to do, and nothing to reveal.
    with contextlib.suppress(TokenNotFound):
        identity.revoke_token(db, user=user, token_id=token_id)
    return see_other(request, str(url_of(request, "account")))


@router.post("/account/notifications", name="account_preferences")
def save_preferences(
    request: Request, db: DbSession, user: PageUser, data: SubmittedForm
) -> Response:
    topics = [topic for topic in data.getlist("topics") if isinstance(topic, str)]
    preferences.choose(db, user_id=user.id, email=data.get("email") == "on", topics=topics)
    target = str(url_of(request, "account")) + "#notification-preferences"
    return see_other(request, target, notice="Notification preferences saved.")


@router.post("/account/chat", name="account_chat")
def save_chat(
    request: Request, db: DbSession, user: PageUser, data: SubmittedForm, settings: AppSettings
) -> Response:
    target = str(url_of(request, "account")) + "#chat"
    try:
        core_chat.set_for_user(
            db,
            user=user,
            format=str(data.get("format") or ""),
            url=str(data.get("url") or ""),
            topics=[topic for topic in data.getlist("topics") if isinstance(topic, str)],
            policy=OutboundPolicy.from_settings(settings),
        )
    except Invalid as refused:
        db.rollback()
        return see_other(request, target, notice=problem_sentence(refused), kind="error")
    return see_other(request, target, notice="Chat notifications saved.")


@router.post("/account/chat/remove", name="account_chat_remove")
def remove_chat(request: Request, db: DbSession, user: PageUser) -> Response:
    core_chat.remove_for_user(db, user=user)
    target = str(url_of(request, "account")) + "#chat"
    return see_other(request, target, notice="Chat notifications turned off.")
