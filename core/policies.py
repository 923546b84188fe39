"""Who may do what outside any one context: the audit trail, the directory of people
and teams, the API tokens."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from servicebay.core.errors import Denied

if TYPE_CHECKING:  # identity checks tokens against these rules
    from servicebay.core.identity import User


class AuditTrailDenied(Denied):
    """Only administrators read the audit trail."""


def can_read_audit_trail(user: User) -> bool:
    return user.is_admin


def require_audit_reader(user: User) -> None:
    if not can_read_audit_trail(user):
        raise AuditTrailDenied("only administrators read the audit trail")


class DirectoryDenied(Denied):
    """Only administrators read the directory of people and teams."""


def can_read_directory(user: User) -> bool:
    return user.is_admin


def require_directory_reader(user: User) -> None:
    if not can_read_directory(user):
        raise DirectoryDenied("only administrators read the directory of people and teams")


def can_hold_scopes(user: User, scopes: Iterable[str]) -> bool:
    """A token never grants more than its user has: the admin scope is for admins."""
    return user.is_admin or "admin" not in set(scopes)


def scopes_beyond(granting: Iterable[str] | None, wanted: Iterable[str]) -> list[str]:
    """The scopes a new token would have that the token asking for it lacks.

    A browser session (``granting`` None) and an admin-scope token may grant any scope."""
    if granting is None or "admin" in granting:
        return []
    return sorted(set(wanted) - set(granting))


def missing_scope(held: Iterable[str] | None, scope: str) -> str | None:
    """Why a token may not do what needs ``scope``, or None when it may.

    A browser session (``held`` None) acts with its user's full rights; a token within its
    scopes, and the admin scope holds every other."""
    if held is None or scope in held or "admin" in held:
        return None
    return f"this token lacks the {scope!r} scope"
