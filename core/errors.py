"""The kinds of error every context raises: the faces map a kind, never a class.

A context error subclasses exactly one kind. The app answers each kind with one status
code, as HTML on pages and JSON on the API and agent tools.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ServicebayError(Exception):
    """Base of every error a face may show to the caller."""

    status_code = 400


class NotFound(ServicebayError):
    """The thing does not exist, or the caller may not know that it does."""

    status_code = 404


class Conflict(ServicebayError):
    """The thing is in a state that does not allow this now."""

    status_code = 409


class Invalid(ServicebayError):
    """The caller's input is wrong; ``problems`` maps a field (or a path) to a message."""

    status_code = 422

    def __init__(self, message: str = "", problems: Mapping[str, str] | None = None) -> None:
        self.problems: dict[str, str] = dict(problems or {})
        if not message and self.problems:
            message = "; ".join(f"{field}: {said}" for field, said in self.problems.items())
        super().__init__(message)


class Denied(ServicebayError):
    """The caller is known but may not do this."""

    status_code = 403


class Unauthorized(ServicebayError):
    """The caller did not prove who they are (or the credential is not valid)."""

    status_code = 401


class RateLimited(ServicebayError):
    """Too many attempts; ``retry_after`` says how many seconds until the next window."""

    status_code = 429

    def __init__(self, what: str, retry_after: int) -> None:
        super().__init__(f"too many {what}; try again in {retry_after} s")
        self.retry_after = retry_after


class Unavailable(ServicebayError):
    """A service this depends on (an identity provider) cannot be reached (503), or
    answered what it should not (a subclass may say 502): nothing the caller did wrong."""

    status_code = 503


KINDS: tuple[type[ServicebayError], ...] = (
    NotFound,
    Conflict,
    Invalid,
    Denied,
    Unauthorized,
    RateLimited,
    Unavailable,
)


def detail_of(error: Exception) -> Any:
    """What a face answers about an error: each field's problem, or the sentence."""
    problems = getattr(error, "problems", None)
    if problems:
        return [{"field": name, "message": message} for name, message in problems.items()]
    return str(error)
