"""Who may do what with a request. Pure functions of the user and the request."""

from __future__ import annotations

from servicebay.core.identity import User
from servicebay.requests import lifecycle
from servicebay.requests.models import Request, RequestStatus


def is_on_owner_team(user: User, request: Request) -> bool:
    return user.is_admin or user.role_in(request.offering.owner_team_id) is not None


def takes_part_without_steps(user: User, request: Request) -> bool:
    """The requester and the owner team (approvers are known from the request's steps)."""
    return request.requester_id == user.id or is_on_owner_team(user, request)


def reads_every_request(user: User) -> bool:
    """Analysts read every offering's insights, and open the requests behind them."""
    return user.is_analyst


def can_cancel(user: User, request: Request) -> bool:
    """The requester or the owner team; an approver decides, but does not cancel."""
    return takes_part_without_steps(user, request)


def may_cancel_now(user: User, request: Request) -> bool:
    """Whether the page offers Cancel: the user may cancel, and the state allows it."""
    return can_cancel(user, request) and lifecycle.can_move(request, RequestStatus.CANCELLED)


def may_rate_now(user: User, request: Request) -> bool:
    """Whether the page offers a rating: the requester, once the request is completed."""
    return can_rate(user, request) and request.status == RequestStatus.COMPLETED.value


def can_retry(user: User, request: Request) -> bool:
    return is_on_owner_team(user, request)


def can_rate(user: User, request: Request) -> bool:
    return request.requester_id == user.id


def can_work_on_board(user: User, team_id: int) -> bool:
    """A team's board (its manual tasks and WIP limits) is for its members."""
    return user.is_admin or user.role_in(team_id) is not None
