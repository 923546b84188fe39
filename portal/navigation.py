"""The main navigation: a tab for each part of the portal the signed-in person can use.

Each tab asks the very rule its page applies (the page shows nothing else to someone the
rule leaves out), so a tab never leads to a page that has nothing for its reader.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from servicebay.analytics import scope
from servicebay.core import policies, questions
from servicebay.core.identity import User
from servicebay.requests import approvals, instances, notifications, tasks


@dataclass(frozen=True)
class Tab:
    route: str  # the route name its link points to
    label: str
    prefix: str  # the paths under it, for aria-current


def tabs_for(session: Session, user: User) -> list[Tab]:
    return top_bar_of(session, user)[1]


def top_bar_of(session: Session, user: User) -> tuple[int, list[Tab]]:
    """The unread count and the tabs the reader can use, read in one query: each tab asks
    its context's question, answered there without the database when the reader's roles
    decide it."""
    offered = [
        (True, Tab("home", "Catalog", "/")),
        (True, Tab("my_requests", "My requests", "/requests")),
        (instances.has_any_question(user), Tab("my_instances", "My instances", "/instances")),
        (approvals.decides_approvals_question(user), Tab("approvals", "Approvals", "/approvals")),
        (tasks.has_workspace_question(user), Tab("ops_board", "Ops", "/ops")),
        (scope.reads_insights_question(user), Tab("insights", "Insights", "/insights")),
        (policies.can_read_audit_trail(user), Tab("admin_audit", "Admin", "/admin")),
    ]
    unread, *allowed = questions.answers(
        session, notifications.unread_count_of(user.id), *(question for question, _ in offered)
    )
    return int(unread), [tab for shown, (_, tab) in zip(allowed, offered, strict=True) if shown]
