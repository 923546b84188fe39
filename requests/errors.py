"""Errors raised by the requests context; each is one kind of ``core.errors``."""

from __future__ import annotations

from servicebay.core.errors import Conflict, Denied, Invalid, NotFound, Unauthorized


class RequestsError(Exception):
    """Base of every requests error."""


class RequestNotFound(RequestsError, NotFound):
    def __init__(self, request_id: int) -> None:
        super().__init__(f"no request {request_id}")
        self.request_id = request_id


class TransitionNotAllowed(RequestsError, Conflict):
    """The request's state does not allow this step."""


class OfferingNotRequestable(RequestsError, Conflict):
    """The offering exists but takes no new requests; the message says why."""


class RunNotFound(RequestsError, NotFound):
    pass


class TaskItemNotFound(RequestsError, NotFound):
    """The task's checklist has no item at that position."""


class RunConflict(RequestsError, Conflict):
    """The run is no longer in a state that accepts this (for example a late callback)."""


class CallbackRefused(RequestsError, Unauthorized):
    """The callback's bearer token is missing or is not the run's current token."""


class NotPermitted(RequestsError, Denied):
    """The actor may not do this to this request (for example decide their own request)."""


class DecisionInvalid(RequestsError, Invalid):
    """An approval decision is incomplete, for example a rejection without a reason."""


class InvalidInput(RequestsError, Invalid):
    """What the actor sent is not acceptable: an empty comment, a rating out of range, an
    assignee outside the owner team."""


class QuotaExceeded(RequestsError, Conflict):
    """The requesting team has used its quota of this offering for the period."""


class WipLimitReached(RequestsError, Conflict):
    """Moving the task would exceed the column's WIP limit; an override is needed."""


class ApprovalNotFound(RequestsError, NotFound):
    """No such approval step, or one of a request the caller may not see."""

    def __init__(self, approval_id: int) -> None:
        super().__init__(f"no approval {approval_id} is waiting for you")
        self.approval_id = approval_id


class TeamNotFound(RequestsError, NotFound):
    """No such team, or not one whose board the caller works on."""


class WipLimitInvalid(RequestsError, Invalid):
    """A WIP limit that is not a whole number above zero."""


class InstanceNotFound(RequestsError, NotFound):
    """No such instance, or one the caller may not see."""


class OperationNotFound(RequestsError, NotFound):
    """The instance's offering version defines no operation of that name."""


class InstanceBusy(RequestsError, Conflict):
    """Another operation is open on the instance: one runs at a time."""


class InstanceNotOperable(RequestsError, Conflict):
    """The instance's state takes no operations (it is retired, failed or provisioning)."""
