"""One-time form tokens: a form that changes something acts once, however often it is sent.

Every form renders ``form_tokens()``: the CSRF token and a fresh random form token. A post
reserves its form token in the same transaction as the change it makes (the mechanism of
``core.idempotency``, which the API's Idempotency-Key uses too). So a second post of the
same form (a double click without JavaScript, a resent post after a lost answer) waits for
the first, changes nothing and lands where the first landed, with the same message.

What a token is and is not, on purpose:

- It is not a secret and not signed. Forgery is the CSRF token's job, and every post is
  CSRF-checked before its form token is looked at. A form token is only ever compared with
  the same person's own earlier posts (keys are per user), so a token the server never
  issued is simply a new key: it can only keep its sender from repeating themselves.
- A token older than the key lifetime (a day) is forgotten and acts again, as an API call
  with an expired Idempotency-Key does. Keeping issued tokens on the server would cost a
  write per rendered page for no gain.
- A post without one (a script, a page rendered before this existed) acts without the
  protection, as an API call without Idempotency-Key does; sign-in, which has no one to
  hold the key yet, is not guarded either (a repeat only starts another session).
- A post that changed nothing (a form shown again with its problems, a refusal rolled
  back) keeps no reservation: the corrected form carries a fresh token anyway.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request
from jinja2 import pass_context
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from servicebay.core import idempotency
from servicebay.portal.deps import DbSession
from servicebay.portal.security import CSRF_FIELD, check_csrf

FIELD = "form_token"
PURPOSE = "form"
_RESERVATION = "form_reservation"  # where the request's reservation waits for its outcome


class AlreadyDone(Exception):
    """A post whose form token an earlier post already used; answered with the earlier
    post's landing page (``outcome``: location, notice, kind), never an error."""

    def __init__(self, outcome: dict[str, Any]) -> None:
        super().__init__("this form was sent before")
        self.outcome = outcome


@pass_context
def form_tokens(context: Any) -> Markup:
    """The hidden fields every form carries: this browser's CSRF token and a new form token."""
    return Markup(
        '<input type="hidden" name="{}" value="{}"><input type="hidden" name="{}" value="{}">'
    ).format(CSRF_FIELD, context.get("csrf_token", ""), FIELD, secrets.token_urlsafe(18))


async def once_per_form(request: Request, db: DbSession) -> AsyncIterator[None]:
    """Check the post's CSRF token, then reserve its form token before the route acts; a
    repeat ends here. One dependency for both, in that order, always."""
    await check_csrf(request)
    user = getattr(request.state, "user", None)
    token = (await request.form()).get(FIELD) if request.method == "POST" else None
    if user is None or not isinstance(token, str) or not token:
        yield
        return
    reservation = await run_in_threadpool(
        idempotency.reserve, db, user_id=user.id, purpose=PURPOSE, key=token
    )
    if reservation.earlier is not None:
        raise AlreadyDone(reservation.earlier)
    setattr(request.state, _RESERVATION, reservation)
    yield
    await run_in_threadpool(idempotency.release_unsettled, db, reservation)


def remember_outcome(
    request: Request, location: str, *, notice: str = "", kind: str = "success"
) -> None:
    """Where a repeat of this post lands: committed with what the post changed."""
    reservation: idempotency.Reservation | None = getattr(request.state, _RESERVATION, None)
    if reservation is not None:
        idempotency.settle(reservation, {"location": location, "notice": notice, "kind": kind})
