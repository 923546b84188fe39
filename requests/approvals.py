"""Approvals: the steps of an offering's policy, decided in order by whom each names."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session, aliased

from servicebay.catalog import conditions
from servicebay.catalog.models import OfferingVersion
from servicebay.catalog.schemas import ApprovalPolicy, Decider
from servicebay.core import clock, events, questions
from servicebay.core.identity import Membership, Role, Team, User
from servicebay.requests import lifecycle, notifications, policies
from servicebay.requests.errors import (
    ApprovalNotFound,
    DecisionInvalid,
    NotPermitted,
    TransitionNotAllowed,
)
from servicebay.requests.models import Approval, ApprovalStatus, Request, RequestStatus


def plan(
    session: Session,
    *,
    request: Request,
    version: OfferingVersion,
    policy: ApprovalPolicy | None = None,
) -> list[Approval]:
    """Create one row per step; steps whose condition does not hold are skipped. ``policy``
    is a day-2 operation's own, in place of the version's."""
    if policy is None:
        policy = ApprovalPolicy.model_validate(version.approval_policy or {})
    now = clock.now()
    steps: list[Approval] = []
    for position, step in enumerate(policy.steps):
        applies = step.condition is None or conditions.check(step.condition, request.inputs)
        approval = Approval(
            request_id=request.id,
            position=position,
            name=step.name,
            decider=step.decider.value,
            team_id=_deciding_team(session, request, step.decider, step.team),
            status=(ApprovalStatus.PENDING if applies else ApprovalStatus.SKIPPED).value,
            created_at=now,
        )
        session.add(approval)
        steps.append(approval)
        if not applies:
            events.record(
                session,
                type="approval.skipped",
                actor_id=None,
                offering_id=request.offering_id,
                request_id=request.id,
                data={"step": step.name, "condition": step.condition},
                at=now,
            )
    session.flush()
    first = next((step for step in steps if step.status == ApprovalStatus.PENDING.value), None)
    if first is not None:
        _tell_deciders(session, first)
    return steps


def _tell_deciders(session: Session, approval: Approval) -> None:
    """Let the people who may decide the step now know it waits for them."""
    if approval.team_id is None:
        return
    statement = select(Membership.user_id).where(Membership.team_id == approval.team_id)
    if approval.decider != Decider.TEAM.value:
        statement = statement.where(Membership.role == Role.LEAD.value)
    request = approval.request
    deciders = [uid for uid in session.scalars(statement) if uid != request.requester_id]
    notifications.approval_waiting(
        session,
        request=request,
        step=approval.name,
        user_ids=deciders,
        team=session.get(Team, approval.team_id),
    )


def _deciding_team(
    session: Session, request: Request, decider: Decider, team_slug: str | None
) -> int | None:
    if decider is Decider.TEAM:
        return session.scalar(select(Team.id).where(Team.slug == team_slug))
    if decider is Decider.REQUESTER_LEAD and request.team_id is not None:
        return request.team_id
    # Owner leads, and the requester's lead when the requester belongs to no team.
    return request.offering.owner_team_id


def steps_of(session: Session, *, request_id: int) -> list[Approval]:
    statement = (
        select(Approval).where(Approval.request_id == request_id).order_by(Approval.position)
    )
    return list(session.scalars(statement))


def current_step(session: Session, *, request_id: int) -> Approval | None:
    return session.scalar(
        select(Approval)
        .where(
            Approval.request_id == request_id,
            Approval.status == ApprovalStatus.PENDING.value,
        )
        .order_by(Approval.position)
        .limit(1)
    )


def may_decide(user: User, approval: Approval) -> bool:
    """Who the step names may decide, never the requester; admins stand in for anyone."""
    if approval.request.requester_id == user.id:
        return False
    if user.is_admin:
        return True
    if approval.team_id is None:
        return False
    role = user.role_in(approval.team_id)
    if approval.decider == Decider.TEAM.value:
        return role is not None
    return role is Role.LEAD


def inbox(session: Session, *, user: User) -> list[Approval]:
    """The steps waiting for this user's decision now, oldest request first."""
    earlier = aliased(Approval)
    earlier_pending = (
        select(earlier.id)
        .where(
            earlier.request_id == Approval.request_id,
            earlier.position < Approval.position,
            earlier.status == ApprovalStatus.PENDING.value,
        )
        .exists()
    )
    statement = (
        select(Approval)
        .join(Request, Request.id == Approval.request_id)
        .where(
            Approval.status == ApprovalStatus.PENDING.value,
            Request.status == RequestStatus.PENDING_APPROVAL.value,
            Request.requester_id != user.id,
            ~earlier_pending,
        )
        .order_by(Request.submitted_at, Approval.request_id)
    )
    if not user.is_admin:
        statement = statement.where(_decidable_by(user))
    return list(session.scalars(statement))


def decides_approvals(session: Session, *, user: User) -> bool:
    """Whether approval steps may ever wait for this user: administrators, team leads
    (steps name the owner team's or the requester's team's leads), and members of a
    team that a step has named. Others have no approvals inbox to open."""
    return questions.answer(session, decides_approvals_question(user))


def decides_approvals_question(user: User) -> questions.Question:
    """decides_approvals, to be asked with other questions in one query."""
    if user.is_admin or any(m.role == Role.LEAD.value for m in user.memberships):
        return True
    if not user.team_ids:
        return False
    return questions.any_row(
        select(Approval.id).where(
            Approval.decider == Decider.TEAM.value, Approval.team_id.in_(user.team_ids)
        )
    )


def _decidable_by(user: User) -> ColumnElement[bool]:
    """may_decide as a condition: a team step for the team's members, any other step
    for the deciding team's leads."""
    member_of = user.team_ids or [-1]
    lead_of = [m.team_id for m in user.memberships if m.role == Role.LEAD.value] or [-1]
    return or_(
        and_(Approval.decider == Decider.TEAM.value, Approval.team_id.in_(member_of)),
        and_(Approval.decider != Decider.TEAM.value, Approval.team_id.in_(lead_of)),
    )


def can_view(session: Session, user: User, request: Request) -> bool:
    """Who may see a request: whoever takes part in it, and analysts, who only read."""
    return policies.reads_every_request(user) or takes_part(session, user, request)


def takes_part(session: Session, user: User, request: Request) -> bool:
    """The requester, the owner team, and whoever a step of its approval names."""
    if policies.takes_part_without_steps(user, request):
        return True
    return any(may_decide(user, step) for step in steps_of(session, request_id=request.id))


def decide(
    session: Session, *, actor: User, approval_id: int, approve: bool, reason: str = ""
) -> Approval:
    """Approve or reject the request's current step; a rejection ends the request."""
    approval = session.get(Approval, approval_id)
    if approval is None or not can_view(session, actor, approval.request):
        # A step of a request the actor may not see is not found, like one that never was.
        raise ApprovalNotFound(approval_id)
    request = lifecycle.lock(session, approval.request)
    session.refresh(approval)
    reason = reason.strip()
    if approval.request.requester_id == actor.id:
        raise NotPermitted("you cannot decide on your own request")
    if not may_decide(actor, approval):
        raise NotPermitted(f"step {approval.name!r} is not yours to decide")
    current = current_step(session, request_id=request.id)
    if request.status != RequestStatus.PENDING_APPROVAL.value or current is None:
        raise TransitionNotAllowed(
            f"request #{request.id} is {request.status}, not awaiting approval"
        )
    if current.id != approval.id:
        raise TransitionNotAllowed(f"step {current.name!r} must be decided first")
    if not approve and not reason:
        raise DecisionInvalid("a rejection needs a reason")
    now = clock.now()
    approval.status = (ApprovalStatus.APPROVED if approve else ApprovalStatus.REJECTED).value
    approval.decided_by_id = actor.id
    approval.decided_at = now
    approval.reason = reason or None
    events.record(
        session,
        type=f"approval.{approval.status}",
        actor_id=actor.id,
        offering_id=request.offering_id,
        request_id=request.id,
        data={"step": approval.name, "reason": reason},
        at=now,
    )
    if not approve:
        lifecycle.reject(session, request, actor_id=actor.id, reason=reason, step=approval.name)
    else:
        following = current_step(session, request_id=request.id)
        if following is not None:
            _tell_deciders(session, following)
        else:
            from servicebay.requests import service  # the fulfilment start lives there

            service.begin_fulfilment(session, request=request, actor_id=actor.id)
    return approval
