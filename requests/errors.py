"""Errors raised by the requests context."""

from __future__ import annotations

from servicebay.core.errors import Invalid, NotFound


class RequestsError(Exception):
    """Base of every requests error."""


class RequestNotFound(RequestsError):
    def __init__(self, request_id: int) -> None:
        super().__init__(f"no request {request_id}")
        self.request_id = request_id


class TransitionNotAllowed(RequestsError):
    """The request's state does not allow this step."""


class OfferingNotRequestable(RequestsError):
    """The offering exists but takes no new requests; the message says why."""


class RunNotFound(RequestsError):
    pass


class RunConflict(RequestsError):
    """The run is no longer in a state that accepts this (for example a late callback)."""


class CallbackRefused(RequestsError):
    """The callback's bearer token is missing or is not the run's current token."""


class NotPermitted(RequestsError):
    """The actor may not do this to this request (for example decide their own request)."""


class DecisionInvalid(RequestsError):
    """A decision or form is incomplete, for example a rejection without a reason."""


class QuotaExceeded(RequestsError):
    """The requesting team has used its quota of this offering for the period."""


class IdempotencyKeyReused(RequestsError):
    """The Idempotency-Key was already used with a different request body."""


class WipLimitReached(RequestsError):
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
