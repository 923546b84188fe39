"""Request operations: submit, approve into fulfilment, cancel, retry, comment, rate, read."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from sqlalchemy import Select, delete, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, lazyload, sessionmaker

from servicebay.catalog import forms
from servicebay.catalog import service as catalog_service
from servicebay.catalog.models import Offering, OfferingVersion
from servicebay.catalog.schemas import ManualFulfilment
from servicebay.core import clock, events
from servicebay.core.database import transaction
from servicebay.core.identity import User
from servicebay.requests import approvals, lifecycle, policies, tasks
from servicebay.requests.errors import (
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    InvalidInput,
    NotPermitted,
    OfferingNotRequestable,
    QuotaExceeded,
    RequestNotFound,
    TransitionNotAllowed,
)
from servicebay.requests.fulfilment import engine
from servicebay.requests.models import (
    Comment,
    FulfilmentRun,
    IdempotencyKey,
    Request,
    RequestStatus,
    RunKind,
    RunStatus,
)

RATING_EDIT_WINDOW = timedelta(days=14)
IDEMPOTENCY_KEY_LIFETIME = timedelta(hours=24)
ABANDONED_AFTER = timedelta(minutes=2)
NOT_COUNTED_FOR_QUOTA = (RequestStatus.REJECTED.value, RequestStatus.CANCELLED.value)


def submit(session: Session, *, actor: User, offering_slug: str, inputs: dict[str, Any]) -> Request:
    """Validate the inputs against the offering's current version and start the request."""
    retired = session.scalar(
        select(Offering.name).where(Offering.slug == offering_slug, Offering.status == "retired")
    )
    if retired is not None:
        raise OfferingNotRequestable(f"{retired} is retired and takes no new requests")
    offering = catalog_service.get_offering(session, slug=offering_slug, viewer=actor)
    if offering.status != "published" or offering.current_version is None:
        raise OfferingNotRequestable(
            f"{offering.name} is {offering.status} and takes no new requests"
        )
    version = offering.current_version
    cleaned = forms.validate_inputs(catalog_service.form_of(version), inputs)
    team_id = actor.team_ids[0] if actor.team_ids else None
    _check_quota(session, version=version, team_id=team_id)
    now = clock.now()
    request = Request(
        offering_id=offering.id,
        offering_version_id=version.id,
        requester_id=actor.id,
        team_id=team_id,
        inputs=cleaned,
        outputs={},
        status=RequestStatus.SUBMITTED.value,
        submitted_at=now,
        updated_at=now,
    )
    session.add(request)
    session.flush()
    events.record(
        session,
        type="request.submitted",
        actor_id=actor.id,
        offering_id=offering.id,
        request_id=request.id,
        data={"version": version.number},
        at=now,
    )
    steps = approvals.plan(session, request=request, version=version)
    if any(step.status == "pending" for step in steps):
        lifecycle.await_approval(session, request)
    else:
        begin_fulfilment(session, request=request, actor_id=None)
    return request


def begin_fulfilment(session: Session, *, request: Request, actor_id: int | None) -> None:
    """Move into fulfilment with its run (automated) or its task (manual) in one transaction."""
    lifecycle.start_fulfilment(session, request, actor_id=actor_id)
    spec = catalog_service.fulfilment_of(request.version)
    if isinstance(spec, ManualFulfilment):
        tasks.create(session, request=request, checklist=list(spec.checklist))
        return
    engine.enqueue(session, request=request, max_attempts=spec.max_attempts)


def _check_quota(session: Session, *, version: OfferingVersion, team_id: int | None) -> None:
    """At most ``quota_count`` requests per requesting team per ``quota_period_days``.

    Concurrent submissions of one team queue on a transaction-scoped lock, so the
    count each of them reads includes every submission committed before it.
    """
    count_allowed = version.quota_count
    period_days = version.quota_period_days
    if count_allowed is None or team_id is None:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:offering, :team)"),
            {"offering": version.offering_id, "team": team_id},
        )
    since = clock.now() - timedelta(days=period_days or 30)
    used = session.scalar(
        select(func.count(Request.id)).where(
            Request.offering_id == version.offering_id,
            Request.team_id == team_id,
            Request.submitted_at >= since,
            Request.status.not_in(NOT_COUNTED_FOR_QUOTA),
        )
    )
    if (used or 0) >= count_allowed:
        raise QuotaExceeded(
            f"your team has used its quota of {count_allowed} requests "
            f"per {period_days or 30} days for this offering"
        )


# --- idempotency keys ---------------------------------------------------------


def fingerprint(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def reserve_key(
    sessions: sessionmaker[Session], *, user_id: int, key: str, body_fingerprint: str
) -> int | None:
    """Claim the key for a new submission (None), or return the request it already made.

    Runs in its own committed transaction so a concurrent duplicate sees it in flight.
    """
    now = clock.now()
    for _ in range(2):
        try:
            with transaction(sessions) as session:
                session.add(
                    IdempotencyKey(
                        user_id=user_id,
                        key=key,
                        fingerprint=body_fingerprint,
                        created_at=now,
                        expires_at=now + IDEMPOTENCY_KEY_LIFETIME,
                    )
                )
            return None
        except IntegrityError:
            pass
        with transaction(sessions) as session:
            found = session.scalar(
                select(IdempotencyKey).where(
                    IdempotencyKey.user_id == user_id, IdempotencyKey.key == key
                )
            )
            if found is None:
                continue
            abandoned = found.request_id is None and found.created_at < now - ABANDONED_AFTER
            if found.expires_at <= now or abandoned:
                session.delete(found)
                continue
            if found.fingerprint != body_fingerprint:
                raise IdempotencyKeyReused(
                    "this Idempotency-Key was used with a different request body"
                )
            if found.request_id is None:
                raise IdempotencyKeyInFlight(
                    "a request with this Idempotency-Key is still being processed"
                )
            return found.request_id
    raise IdempotencyKeyInFlight("a request with this Idempotency-Key is still being processed")


def purge_expired_keys(session: Session) -> int:
    """Forget Idempotency-Keys past their lifetime."""
    result = session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at <= clock.now()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def bind_key(session: Session, *, user_id: int, key: str, request: Request) -> None:
    """Record, in the submission's own transaction, which request the key produced."""
    found = session.scalar(
        select(IdempotencyKey).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
    )
    if found is not None:
        found.request_id = request.id


def release_key(sessions: sessionmaker[Session], *, user_id: int, key: str) -> None:
    """The submission failed: free the key so the same call can be tried again."""
    with transaction(sessions) as session:
        session.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.user_id == user_id,
                IdempotencyKey.key == key,
                IdempotencyKey.request_id.is_(None),
            )
        )


# --- cancel and retry ---------------------------------------------------------


def cancel(session: Session, *, actor: User, request_id: int, reason: str = "") -> Request:
    """The requester or the owner team stops a request before it completes."""
    request = get_for_viewer(session, request_id=request_id, viewer=actor)
    if not policies.can_cancel(actor, request):
        raise NotPermitted("only the requester or the owner team cancels a request")
    if not lifecycle.can_move(request, RequestStatus.CANCELLED):
        raise TransitionNotAllowed(f"a {request.status} request cannot be cancelled")
    # Runs before the request: the same lock order as a worker finishing a run.
    stopped = engine.cancel_open_runs(session, request_id=request.id)
    lifecycle.lock(session, request)
    if not lifecycle.can_move(request, RequestStatus.CANCELLED):
        raise TransitionNotAllowed(f"a {request.status} request cannot be cancelled")
    lifecycle.cancel(session, request, actor_id=actor.id, reason=reason.strip())
    if stopped:
        events.record(
            session,
            type="run.cancelled",
            actor_id=actor.id,
            offering_id=request.offering_id,
            request_id=request.id,
            data={"runs": stopped},
        )
    return request


def retry(session: Session, *, actor: User, request_id: int) -> FulfilmentRun:
    """The owner team tries a failed request again: a fresh run, with fresh attempts."""
    request = get_for_viewer(session, request_id=request_id, viewer=actor)
    if not policies.can_retry(actor, request):
        raise NotPermitted("only the owner team retries a failed request")
    lifecycle.lock(session, request)
    if request.status != RequestStatus.FAILED.value:
        raise TransitionNotAllowed(f"a {request.status} request cannot be retried")
    lifecycle.start_fulfilment(session, request, actor_id=actor.id)
    spec = catalog_service.fulfilment_of(request.version)
    return engine.enqueue(session, request=request, max_attempts=spec.max_attempts)


def failed_for_team(session: Session, *, team_id: int) -> list[tuple[Request, FulfilmentRun]]:
    """The owner team's failed requests with the run that ended them, newest first."""
    statement = (
        select(Request, FulfilmentRun)
        .join(FulfilmentRun, FulfilmentRun.request_id == Request.id)
        .where(
            Request.status == RequestStatus.FAILED.value,
            Request.offering.has(owner_team_id=team_id),
            FulfilmentRun.kind == RunKind.FULFIL.value,
            FulfilmentRun.status == RunStatus.DEAD.value,
        )
        .order_by(Request.updated_at.desc(), FulfilmentRun.id.desc())
    )
    seen: set[int] = set()
    rows: list[tuple[Request, FulfilmentRun]] = []
    for request, run in session.execute(statement).all():
        if request.id not in seen:
            seen.add(request.id)
            rows.append((request, run))
    return rows


# --- conversation and outcome -------------------------------------------------


def add_comment(session: Session, *, actor: User, request_id: int, body: str) -> Comment:
    request = get_for_viewer(session, request_id=request_id, viewer=actor)
    body = body.strip()
    if not body:
        raise InvalidInput("a comment needs some text")
    comment = Comment(
        request_id=request.id, author_id=actor.id, body=body[:10000], created_at=clock.now()
    )
    session.add(comment)
    session.flush()
    events.record(
        session,
        type="request.commented",
        actor_id=actor.id,
        offering_id=request.offering_id,
        request_id=request.id,
        data={"comment_id": comment.id},
    )
    return comment


def comments_of(session: Session, *, request_id: int) -> list[Comment]:
    statement = select(Comment).where(Comment.request_id == request_id).order_by(Comment.id)
    return list(session.scalars(statement))


def rate(
    session: Session, *, actor: User, request_id: int, score: int, comment: str = ""
) -> Request:
    """The requester rates a completed request once; the rating can be edited for 14 days."""
    request = get_for_viewer(session, request_id=request_id, viewer=actor)
    if not policies.can_rate(actor, request):
        raise NotPermitted("only the requester rates a request")
    if request.status != RequestStatus.COMPLETED.value:
        raise TransitionNotAllowed("only a completed request can be rated")
    if not 1 <= score <= 5:
        raise InvalidInput("a rating is a whole number from 1 to 5")
    now = clock.now()
    first = request.rated_at is None
    if not first and request.rated_at is not None and now > request.rated_at + RATING_EDIT_WINDOW:
        raise TransitionNotAllowed("a rating can be changed for 14 days only")
    request.rating = score
    request.rating_comment = comment.strip() or None
    if first:
        request.rated_at = now
    events.record(
        session,
        type="request.rated" if first else "request.rating_changed",
        actor_id=actor.id,
        offering_id=request.offering_id,
        request_id=request.id,
        data={"score": score},
        at=now,
    )
    return request


# --- reading ------------------------------------------------------------------


def get_for_viewer(session: Session, *, request_id: int, viewer: User) -> Request:
    """The request if the viewer may see it. Others' requests are 'not found', never 403."""
    request = session.get(Request, request_id)
    if request is None or not can_view(session, viewer, request):
        raise RequestNotFound(request_id)
    return request


def can_view(session: Session, viewer: User, request: Request) -> bool:
    if request.requester_id == viewer.id or policies.is_on_owner_team(viewer, request):
        return True
    return any(
        approvals.may_decide(viewer, step)
        for step in approvals.steps_of(session, request_id=request.id)
    )


def counts_by_offering_and_status(session: Session) -> list[tuple[str, str, int]]:
    """How many requests each offering (by slug) has in each status."""
    rows = session.execute(
        select(Offering.slug, Request.status, func.count())
        .join(Offering, Offering.id == Request.offering_id)
        .group_by(Offering.slug, Request.status)
    )
    return [(slug, status, count) for slug, status, count in rows]


def list_for_requester(session: Session, *, requester: User, limit: int = 100) -> list[Request]:
    return list(session.scalars(_newest_of(requester).limit(limit)))


def open_for_requester(session: Session, *, requester: User, limit: int) -> list[Request]:
    """The requester's newest requests that have not ended, with their offering only
    (for lists that show number, offering and status)."""
    statement = (
        _newest_of(requester)
        .where(Request.status.not_in([status.value for status in lifecycle.CLOSED]))
        .limit(limit)
        .options(
            lazyload(Request.version),
            lazyload(Request.requester),
            joinedload(Request.offering).lazyload(Offering.current_version),
        )
    )
    return list(session.scalars(statement))


def _newest_of(requester: User) -> Select[Request]:
    return (
        select(Request)
        .where(Request.requester_id == requester.id)
        .order_by(Request.submitted_at.desc(), Request.id.desc())
    )
