"""Request operations: submit, approve into fulfilment, cancel, retry, comment, rate, read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Select, func, select, text
from sqlalchemy.orm import Session, joinedload, lazyload

from servicebay.catalog import forms
from servicebay.catalog import policies as catalog_policies
from servicebay.catalog import service as catalog_service
from servicebay.catalog.live_options import FieldOptions, LiveOptions
from servicebay.catalog.models import Offering, OfferingVersion
from servicebay.catalog.schemas import ApprovalPolicy, Operation, RequestForm
from servicebay.core import clock, events, idempotency
from servicebay.core.identity import User
from servicebay.requests import approvals, instances, lifecycle, policies, tasks
from servicebay.requests.errors import (
    InvalidInput,
    NotPermitted,
    OfferingNotRequestable,
    QuotaExceeded,
    RequestNotFound,
    TransitionNotAllowed,
)
from servicebay.requests.fulfilment import engine, pipeline
from servicebay.requests.models import (
    Comment,
    FulfilmentRun,
    Instance,
    Request,
    RequestStatus,
    RunKind,
    RunStatus,
    Task,
)
from servicebay.requests.schemas import (
    ApprovalStepOut,
    AttemptOut,
    CommentOut,
    EventOut,
    LogLineOut,
    OfferingDescription,
    RequestOut,
    RequestStoryOut,
    RunOut,
)

RATING_EDIT_WINDOW = timedelta(days=14)
CANCEL_ATTEMPTS = 5
NOT_COUNTED_FOR_QUOTA = (RequestStatus.REJECTED.value, RequestStatus.CANCELLED.value)


def submit(
    session: Session,
    *,
    actor: User,
    offering_slug: str,
    inputs: dict[str, Any],
    live: LiveOptions | None = None,
) -> Request:
    """Validate the inputs against the offering's current version and start the request.

    ``live`` reads the options of fields with a live source; without it such a field is
    refused (a face that takes requests passes it)."""
    offering, version = _requestable(session, actor=actor, offering_slug=offering_slug)
    cleaned = _cleaned(version, inputs, actor=actor, live=live)
    team_id = requesting_team_id(actor)
    _check_quota(session, version=version, team_id=team_id)
    request = _submitted(
        session,
        Request(
            offering_id=offering.id,
            offering_version_id=version.id,
            requester_id=actor.id,
            team_id=team_id,
            inputs=cleaned,
        ),
        version=version,
    )
    _to_approval_or_fulfilment(session, request, version=version)
    return request


def _submitted(session: Session, request: Request, *, version: OfferingVersion) -> Request:
    """The new request stored as submitted, with its ``request.submitted`` Event."""
    now = clock.now()
    request.outputs = {}
    request.status = RequestStatus.SUBMITTED.value
    request.submitted_at = request.updated_at = now
    session.add(request)
    session.flush()
    said: dict[str, Any] = {"version": version.number}
    if request.operation is not None:
        said["operation"] = request.operation
    events.record(
        session,
        type="request.submitted",
        actor_id=request.requester_id,
        offering_id=request.offering_id,
        request_id=request.id,
        instance_id=request.instance_id,
        data=said,
        at=now,
    )
    return request


def _to_approval_or_fulfilment(
    session: Session,
    request: Request,
    *,
    version: OfferingVersion,
    policy: ApprovalPolicy | None = None,
) -> None:
    """Wait for the approvals the policy asks of this request, or start its fulfilment."""
    steps = approvals.plan(session, request=request, version=version, policy=policy)
    if any(step.status == "pending" for step in steps):
        lifecycle.await_approval(session, request)
    else:
        begin_fulfilment(session, request=request, actor_id=None)


def check_inputs(
    session: Session,
    *,
    actor: User,
    offering_slug: str,
    inputs: dict[str, Any],
    live: LiveOptions | None = None,
) -> dict[str, Any]:
    """The inputs as ``submit`` would store them, or the same errors it would refuse them
    with (the offering takes no requests, a field's problem, the team's quota used up);
    nothing is written."""
    _, version = _requestable(session, actor=actor, offering_slug=offering_slug)
    cleaned = _cleaned(version, inputs, actor=actor, live=live)
    if quota_left(session, actor=actor, version=version) == 0:
        raise QuotaExceeded(_quota_used_up(version))
    return cleaned


def _requestable(
    session: Session, *, actor: User, offering_slug: str
) -> tuple[Offering, OfferingVersion]:
    """The offering the actor may request and the version a request would pin."""
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
    return offering, offering.current_version


def _cleaned(
    version: OfferingVersion, inputs: dict[str, Any], *, actor: User, live: LiveOptions | None
) -> dict[str, Any]:
    form = catalog_service.form_of(version)
    return forms.validate_inputs(
        form, _with_defaults(form, inputs), live=live, team=requesting_team_slug(actor)
    )


def field_options(
    session: Session,
    *,
    viewer: User,
    offering_slug: str,
    field_name: str,
    inputs: dict[str, Any],
    live: LiveOptions,
) -> FieldOptions:
    """A choice field's options for the answers given so far and the viewer's team, as the
    form offers them now and as ``submit`` would accept them."""
    offering = catalog_service.get_offering(session, slug=offering_slug, viewer=viewer)
    version = offering.current_version
    form = catalog_service.form_of(version) if version else RequestForm()
    answers = _with_defaults(form, inputs)
    return forms.options_for(
        form, field_name, answers, live=live, team=requesting_team_slug(viewer)
    )


def live_choices(
    form: RequestForm, *, viewer: User, inputs: dict[str, Any], live: LiveOptions
) -> dict[str, FieldOptions]:
    """The options of each field with a live source, for the answers so far: what the form
    shows as it is drawn."""
    answers = _with_defaults(form, inputs)
    team = requesting_team_slug(viewer)
    return {
        form_field.name: forms.options_for(form, form_field.name, answers, live=live, team=team)
        for form_field in form.fields
        if form_field.options_from is not None
    }


def requesting_team_id(actor: User) -> int | None:
    """The team a request counts for (its quota, its insights): the requester's first."""
    return actor.team_ids[0] if actor.team_ids else None


def requesting_team_slug(actor: User) -> str | None:
    """The slug of the team a request counts for, as an options source is told it."""
    team_id = requesting_team_id(actor)
    return next((m.team.slug for m in actor.memberships if m.team_id == team_id), None)


def _with_defaults(form: RequestForm, inputs: dict[str, Any]) -> dict[str, Any]:
    """A field left out takes its default, as the form pre-fills it and the JSON Schema
    advertises it; a field sent, even empty, keeps what was sent."""
    defaults = {f.name: f.default for f in form.fields if f.default is not None}
    return {**{k: v for k, v in defaults.items() if k not in inputs}, **inputs}


def begin_fulfilment(session: Session, *, request: Request, actor_id: int | None) -> None:
    """Move into fulfilment with its run (automated) or its task (manual) in one transaction."""
    lifecycle.start_fulfilment(session, request, actor_id=actor_id)
    pipeline.start(session, request=request, actor_id=actor_id)


def _check_quota(session: Session, *, version: OfferingVersion, team_id: int | None) -> None:
    """At most ``quota_count`` requests per requesting team per ``quota_period_days``.

    Concurrent submissions of one team queue on a transaction-scoped lock, so the
    count each of them reads includes every submission committed before it.
    """
    count_allowed = version.quota_count
    if count_allowed is None or team_id is None:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:offering, :team)"),
            {"offering": version.offering_id, "team": team_id},
        )
    if _used_quota(session, version=version, team_id=team_id) >= count_allowed:
        raise QuotaExceeded(_quota_used_up(version))


def _quota_used_up(version: OfferingVersion) -> str:
    return (
        f"your team has used its quota of {version.quota_count} requests "
        f"per {version.quota_period_days or 30} days for this offering"
    )


def _used_quota(session: Session, *, version: OfferingVersion, team_id: int) -> int:
    since = clock.now() - timedelta(days=version.quota_period_days or 30)
    used = session.scalar(
        select(func.count(Request.id)).where(
            Request.offering_id == version.offering_id,
            Request.team_id == team_id,
            Request.submitted_at >= since,
            Request.status.not_in(NOT_COUNTED_FOR_QUOTA),
            Request.operation.is_(None),  # an operation on an instance is no new request
        )
    )
    return int(used or 0)


def quota_left(session: Session, *, actor: User, version: OfferingVersion) -> int | None:
    """How many more requests the actor's team may make now; None when nothing limits it."""
    team_id = requesting_team_id(actor)
    if version.quota_count is None or team_id is None:
        return None
    return max(0, version.quota_count - _used_quota(session, version=version, team_id=team_id))


def describe(session: Session, *, viewer: User, slug: str) -> OfferingDescription:
    """All a requester needs before asking: the offering, its form as JSON Schema and the
    quota left for the viewer's team."""
    offering = catalog_service.get_offering(session, slug=slug, viewer=viewer)
    version = offering.current_version
    form = catalog_service.form_of(version) if version else RequestForm()
    team = requesting_team_slug(viewer)
    return OfferingDescription(
        offering=catalog_service.offering_out(session, offering, viewer=viewer),
        form_schema=forms.json_schema(form, title=offering.name),
        requesting_team=team,
        quota_left=quota_left(session, actor=viewer, version=version) if version else None,
    )


# --- day-2 operations on instances ------------------------------------------


def run_operation(
    session: Session, *, actor: User, instance_id: int, operation: str, inputs: dict[str, Any]
) -> Request:
    """Ask for a day-2 operation on an instance: a request on the instance, pinned to the
    version that made it, through the operation's approvals and fulfilment. Refused, with
    nothing written, for someone else's instance (not found), an operation the actor may
    not run, inputs the operation's form refuses, an instance that is not active, or one
    another operation still holds."""
    instance = instances.get_for_viewer(session, instance_id=instance_id, viewer=actor)
    chosen = instances.operation(instance, operation)
    instances.check_runnable(actor, instance, chosen)
    cleaned = instances.cleaned_inputs(instance, chosen, inputs)
    instances.lock(session, instance)
    instances.check_runnable(actor, instance, chosen)
    return _open_operation(
        session, requester=actor, instance=instance, chosen=chosen, inputs=cleaned
    )


def request_on_expiry(session: Session, *, instance: Instance) -> Request | None:
    """The decommission an expired instance asks for itself, on its owner's behalf and
    through the operation's approvals; None when the instance takes no operation now (it
    is asked again at the next sweep) or its offering has no retiring operation."""
    spec = catalog_service.instances_of(instance.version)
    chosen = spec.retiring_operation if spec is not None else None
    if chosen is None or instances.refusal(instance) is not None:
        return None
    cleaned = instances.cleaned_inputs(instance, chosen, {})
    return _open_operation(
        session, requester=instance.owner, instance=instance, chosen=chosen, inputs=cleaned
    )


def _open_operation(
    session: Session,
    *,
    requester: User,
    instance: Instance,
    chosen: Operation,
    inputs: dict[str, Any],
) -> Request:
    request = _submitted(
        session,
        Request(
            offering_id=instance.offering_id,
            offering_version_id=instance.offering_version_id,
            requester_id=requester.id,
            team_id=instance.team_id,
            inputs=inputs,
            instance_id=instance.id,
            operation=chosen.name,
        ),
        version=instance.version,
    )
    instances.hold(session, instance, request)
    _to_approval_or_fulfilment(
        session, request, version=instance.version, policy=chosen.approval_policy
    )
    return request


OPERATION_KEYS = "instances.operate"  # the purpose of the API's Idempotency-Keys


def run_operation_once(
    session: Session,
    *,
    actor: User,
    key: str,
    instance_id: int,
    operation: str,
    inputs: dict[str, Any],
) -> tuple[Request, bool]:
    """``run_operation`` at most once per user and Idempotency-Key (as ``submit_once``)."""
    body = idempotency.fingerprint(
        {"instance": instance_id, "operation": operation, "inputs": inputs}
    )
    reservation = idempotency.reserve(
        session, user_id=actor.id, purpose=OPERATION_KEYS, key=key, body_fingerprint=body
    )
    if reservation.earlier is not None:
        earlier = int(reservation.earlier["request_id"])
        return get_for_viewer(session, request_id=earlier, viewer=actor), True
    request = run_operation(
        session, actor=actor, instance_id=instance_id, operation=operation, inputs=inputs
    )
    idempotency.settle(reservation, {"request_id": request.id})
    return request, False


# --- idempotency keys ---------------------------------------------------------

SUBMISSION_KEYS = "requests.submit"  # the purpose of the API's Idempotency-Keys


def submit_once(
    session: Session,
    *,
    actor: User,
    key: str,
    offering_slug: str,
    inputs: dict[str, Any],
    live: LiveOptions | None = None,
) -> tuple[Request, bool]:
    """Submit at most once per user and Idempotency-Key: the request, and whether it is
    the one an earlier call with this key made (a replay). The key is reserved in the
    submission's own transaction (see ``core.idempotency``): a repeat sent while the first
    call runs waits for it and replays its request; a first call that failed or died left
    nothing behind; the same key with another body is refused."""
    body = idempotency.fingerprint({"offering": offering_slug, "inputs": inputs})
    reservation = idempotency.reserve(
        session, user_id=actor.id, purpose=SUBMISSION_KEYS, key=key, body_fingerprint=body
    )
    if reservation.earlier is not None:
        earlier = int(reservation.earlier["request_id"])
        return get_for_viewer(session, request_id=earlier, viewer=actor), True
    request = submit(session, actor=actor, offering_slug=offering_slug, inputs=inputs, live=live)
    idempotency.settle(reservation, {"request_id": request.id})
    return request, False


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
    for run in stopped:
        _tell_step_cancelled(session, request=request, run=run, reason=reason.strip())
    if stopped:
        events.record(
            session,
            type="run.cancelled",
            actor_id=actor.id,
            offering_id=request.offering_id,
            request_id=request.id,
            data={"runs": len(stopped), "steps": sorted({run.step_name for run in stopped})},
        )
    return request


def _tell_step_cancelled(
    session: Session, *, request: Request, run: FulfilmentRun, reason: str
) -> None:
    """A webhook step that was under way hears of the cancel at the address it gave, by a
    durable run of its own (a plugin sees its run cancelled when it checks)."""
    if run.attempt == 0:
        return  # no attempt began: nothing was started that needs stopping
    url = pipeline.cancel_url_of(request, run)
    if not url:
        return
    engine.enqueue(
        session,
        request=request,
        kind=RunKind.CANCEL,
        max_attempts=CANCEL_ATTEMPTS,
        step=run.step,
        step_name=run.step_name,
        payload={
            "url": url,
            "run": run.id,
            "attempt": run.attempt,
            "step": run.step_name,
            "position": run.step,
            "reason": reason[:500],
        },
    )


def retry(session: Session, *, actor: User, request_id: int) -> FulfilmentRun | Task:
    """The owner team tries a failed request again from the step that failed: a fresh run
    of that step, with fresh attempts; the steps that succeeded are not run again."""
    request = get_for_viewer(session, request_id=request_id, viewer=actor)
    if not policies.can_retry(actor, request):
        raise NotPermitted("only the owner team retries a failed request")
    lifecycle.lock(session, request)
    if request.status != RequestStatus.FAILED.value:
        raise TransitionNotAllowed(f"a {request.status} request cannot be retried")
    lifecycle.start_fulfilment(session, request, actor_id=actor.id)
    return pipeline.retry_failed_step(session, request=request)


def failed_on_board(
    session: Session, *, viewer: User, team_slug: str
) -> list[tuple[Request, FulfilmentRun]]:
    """The failed requests of a team whose board the viewer works on (any other team is
    not found), each with the run that ended it."""
    team = tasks.board_team(session, viewer=viewer, slug=team_slug)
    return failed_for_team(session, team_id=team.id)


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
    if not approvals.takes_part(session, actor, request):
        raise NotPermitted("only those who take part in a request comment on it")
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


def story_of(session: Session, *, request_id: int, viewer: User) -> RequestStoryOut:
    """A request the viewer may see with all that happened to it: its status and outputs,
    the timeline, the approval steps, every run's log and the comments."""
    request = get_for_viewer(session, request_id=request_id, viewer=viewer)
    return RequestStoryOut(
        request=RequestOut.model_validate(request),
        timeline=[
            EventOut.model_validate(e)
            for e in events_seen_by(session, viewer=viewer, request=request)
        ],
        approvals=[
            ApprovalStepOut.model_validate(step)
            for step in approvals.steps_of(session, request_id=request.id)
        ],
        runs=runs_of(session, viewer=viewer, request=request),
        comments=[
            CommentOut.model_validate(c) for c in comments_of(session, request_id=request.id)
        ],
    )


def get_for_viewer(session: Session, *, request_id: int, viewer: User) -> Request:
    """The request if the viewer may see it. Others' requests are 'not found', never 403."""
    request = session.get(Request, request_id)
    if request is None or not approvals.can_view(session, viewer, request):
        raise RequestNotFound(request_id)
    return request


OPEN = (
    RequestStatus.SUBMITTED,
    RequestStatus.PENDING_APPROVAL,
    RequestStatus.IN_FULFILMENT,
    RequestStatus.FAILED,
)
STATUS_FILTERS = ("", "open", "closed", *(status.value for status in RequestStatus))
SORTS: dict[str, tuple[Any, ...]] = {
    "newest": (Request.submitted_at.desc(), Request.id.desc()),
    "oldest": (Request.submitted_at.asc(), Request.id.asc()),
    "updated": (Request.updated_at.desc(), Request.id.desc()),
    "offering": (Offering.name.asc(), Request.id.desc()),
}


def requests_of(
    requester: User, *, status: str = "", q: str = "", sort: str = "newest"
) -> Select[Request]:
    """The requester's requests: ``status`` is one of STATUS_FILTERS, ``q`` a part of the
    offering's name, ``sort`` a key of SORTS; an unknown filter or sort is ignored."""
    statement = (
        select(Request)
        .join(Offering, Offering.id == Request.offering_id)
        .where(Request.requester_id == requester.id)
    )
    if status == "open":
        statement = statement.where(Request.status.in_([s.value for s in OPEN]))
    elif status == "closed":
        statement = statement.where(Request.status.in_([s.value for s in lifecycle.CLOSED]))
    elif status in STATUS_FILTERS and status:
        statement = statement.where(Request.status == status)
    if q.strip():
        statement = statement.where(Offering.name.ilike(f"%{q.strip()}%"))
    return statement.order_by(*SORTS.get(sort, SORTS["newest"]))


def counts_by_offering_and_status(session: Session) -> list[tuple[str, str, int]]:
    """How many requests each offering (by slug) has in each status."""
    rows = session.execute(
        select(Offering.slug, Request.status, func.count())
        .join(Offering, Offering.id == Request.offering_id)
        .group_by(Offering.slug, Request.status)
    )
    return [(slug, status, count) for slug, status, count in rows]


def runs_of(session: Session, *, viewer: User, request: Request) -> list[RunOut]:
    """Every fulfilment run of the request with its attempts and log lines. Someone who may
    not read the offering's fulfilment settings (the requester, an approver from another
    team) reads the errors and log without the webhook's address."""
    runs = engine.runs_for_request(session, request_id=request.id)
    ids = [run.id for run in runs]
    attempts = engine.attempts_of(session, run_ids=ids)
    lines = engine.log_lines(session, run_ids=ids)
    hide = _hiding_the_address(viewer, request)
    return [
        RunOut.model_validate(run).model_copy(
            update={
                "last_error": hide(run.last_error),
                "attempts": [
                    AttemptOut.model_validate(a).model_copy(update={"error": hide(a.error)})
                    for a in attempts
                    if a.run_id == run.id
                ],
                "log": [
                    LogLineOut.model_validate(line).model_copy(
                        update={"message": hide(line.message) or ""}
                    )
                    for line in lines
                    if line.run_id == run.id
                ],
            }
        )
        for run in runs
    ]


def step_count(request: Request) -> int:
    """How many steps the request's fulfilment has (a single fulfilment is one)."""
    return len(catalog_service.pipeline_of(request.version, request.operation).steps)


def _hiding_the_address(viewer: User, request: Request) -> Callable[[str | None], str | None]:
    steps = catalog_service.pipeline_of(request.version, request.operation).steps
    urls = [
        url
        for step in steps
        for url in (getattr(step, "url", ""), getattr(step, "cancel_url", ""))
        if url
    ]
    if not urls or catalog_policies.can_read_fulfilment(viewer, request.offering):
        return lambda text: text
    hosts = [host for host in (urlsplit(url).hostname for url in urls) if host]
    said = "the fulfilment service"

    def hide(text: str | None) -> str | None:
        if not text:
            return text
        for url in urls:
            text = text.replace(url, said)
        for host in hosts:
            text = text.replace(host, said)
        return text

    return hide


@dataclass(frozen=True)
class EventSeen:
    """An Event of a request as one viewer reads it (a copy: the log itself never changes)."""

    id: int
    type: str
    occurred_at: datetime
    actor: User | None
    data: dict[str, Any]


def events_seen_by(session: Session, *, viewer: User, request: Request) -> list[EventSeen]:
    """Everything that happened to the request, in order; reasons name the webhook's
    address only to those who may read the offering's fulfilment settings."""
    hide = _hiding_the_address(viewer, request)
    return [
        EventSeen(
            id=event.id,
            type=event.type,
            occurred_at=event.occurred_at,
            actor=event.actor,
            data={
                key: hide(value) if isinstance(value, str) else value
                for key, value in (event.data or {}).items()
            },
        )
        for event in events.for_request(session, request_id=request.id)
    ]


def timeline(session: Session, *, viewer: User, request: Request) -> list[EventSeen]:
    """A request's events as its page tells them. A rejection at an approval step is one
    happening, recorded twice (the step's decision and the request's move): it is told once,
    at its step, with its reason."""
    told = events_seen_by(session, viewer=viewer, request=request)
    at_a_step = any(event.type == "approval.rejected" for event in told)
    return [event for event in told if not (at_a_step and event.type == "request.rejected")]


def list_for_requester(
    session: Session,
    *,
    requester: User,
    status: str = "",
    q: str = "",
    sort: str = "newest",
    limit: int = 100,
) -> list[Request]:
    statement = requests_of(requester, status=status, q=q, sort=sort).limit(limit)
    return list(session.scalars(statement))


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


HISTORY_SHOWN = 5


@dataclass(frozen=True)
class RequesterHistory:
    """What an approver should know of who asks: how their earlier requests went."""

    total: int
    by_status: dict[str, int]
    recent: list[Request]


def _most_first(row: Any) -> tuple[int, str]:
    status, count = row
    return -int(count), str(status)


def requester_history(
    session: Session, *, request: Request, shown: int = HISTORY_SHOWN
) -> RequesterHistory:
    """The requester's requests made before this one: counted by status, newest shown."""
    earlier = (Request.requester_id == request.requester_id) & (
        (Request.submitted_at < request.submitted_at)
        | ((Request.submitted_at == request.submitted_at) & (Request.id < request.id))
    )
    counts = session.execute(
        select(Request.status, func.count(Request.id)).where(earlier).group_by(Request.status)
    ).all()
    recent = session.scalars(
        select(Request)
        .where(earlier)
        .order_by(Request.submitted_at.desc(), Request.id.desc())
        .limit(shown)
    )
    by_status = {status: int(count) for status, count in sorted(counts, key=_most_first)}
    return RequesterHistory(total=sum(by_status.values()), by_status=by_status, recent=list(recent))
