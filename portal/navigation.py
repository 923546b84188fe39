"""The main navigation: a tab for each part of the portal the signed-in person can use.

Each tab asks the very rule its page applies (the page shows nothing else to someone the
rule leaves out), so a tab never leads to a page that has nothing for its reader.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.orm import Session

from servicebay.analytics import scope
from servicebay.core import policies
from servicebay.core.identity import User
from servicebay.portal.deps import DbSession, MaybeUser
from servicebay.requests import approvals, instances, tasks


@dataclass(frozen=True)
class Tab:
    route: str  # the route name its link points to
    label: str
    prefix: str  # the paths under it, for aria-current


def tabs_for(session: Session, user: User) -> list[Tab]:
    shown = [
        (True, Tab("home", "Catalog", "/")),
        (True, Tab("my_requests", "My requests", "/requests")),
        (
            instances.has_any(session, viewer=user),
            Tab("my_instances", "My instances", "/instances"),
        ),
        (
            approvals.decides_approvals(session, user=user),
            Tab("approvals", "Approvals", "/approvals"),
        ),
        (tasks.has_workspace(session, viewer=user), Tab("ops_board", "Ops", "/ops")),
        (scope.reads_insights(session, viewer=user), Tab("insights", "Insights", "/insights")),
        (policies.can_read_audit_trail(user), Tab("admin_audit", "Admin", "/admin")),
    ]
    return [tab for allowed, tab in shown if allowed]


def main_tabs(request: Request, db: DbSession, user: MaybeUser) -> None:
    """Every page's top bar: the tabs of the signed-in person (none for anyone else)."""
    request.state.tabs = tabs_for(db, user) if user is not None else []
