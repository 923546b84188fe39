"""Errors raised by the requests context."""

from __future__ import annotations


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
