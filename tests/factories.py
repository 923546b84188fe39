"""Small factories: each test says what matters and gets the rest filled in."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from servicebay.catalog import service as catalog_service
from servicebay.catalog.models import Offering
from servicebay.catalog.schemas import OfferingIn
from servicebay.core import clock, identity
from servicebay.core.identity import Role, Team, User

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

PASSWORD = "correct-horse-battery"
_numbers = itertools.count(1)


def make_team(db: Session, slug: str | None = None) -> Team:
    number = next(_numbers)
    return identity.create_team(db, slug=slug or f"team-{number}", name=f"Team {number}")


def make_user(
    db: Session,
    username: str | None = None,
    *,
    team: Team | None = None,
    role: Role = Role.MEMBER,
    admin: bool = False,
    analyst: bool = False,
) -> User:
    user = identity.create_user(
        db,
        username=username or f"user{next(_numbers)}",
        password=PASSWORD,
        email="someone@example.com",
        is_admin=admin,
        is_analyst=analyst,
    )
    if team is not None:
        identity.add_member(db, user=user, team=team, role=role)
    return user


def token_for(db: Session, user: User, scopes: list[str] | None = None) -> dict[str, str]:
    issued = identity.create_token(
        db, user=user, name="test", scopes=scopes or ["read", "request", "ops"]
    )
    return {"Authorization": f"Bearer {issued.value}"}


def offering_definition(team: Team, **overrides: Any) -> dict[str, Any]:
    definition: dict[str, Any] = {
        "slug": f"offering-{next(_numbers)}",
        "name": "Database",
        "summary": "A PostgreSQL database",
        "description": "A managed **PostgreSQL** database with daily backups.",
        "contact": "#platform-help",
        "runbook_url": "https://runbooks.example.com/database",
        "sle": {"percent": 85, "within_hours": 48},
        "owner_team": team.slug,
        "form": {
            "fields": [
                {"name": "name", "label": "Database name", "required": True, "pattern": "[a-z_]+"},
                {
                    "name": "size",
                    "label": "Size",
                    "type": "select",
                    "options": ["small", "large"],
                    "required": True,
                },
            ]
        },
        "fulfilment": {"kind": "plugin", "plugin": "echo"},
    }
    definition.update(overrides)
    return definition


def make_offering(
    db: Session, team: Team, lead: User, *, publish: bool = True, **overrides: Any
) -> Offering:
    definition = OfferingIn.model_validate(offering_definition(team, **overrides))
    offering = catalog_service.create_offering(db, actor=lead, definition=definition)
    if publish:
        pass_dry_run(db, offering)
        catalog_service.publish(db, actor=lead, offering=offering)
    return offering


def pass_dry_run(db: Session, offering: Offering) -> None:
    """Arrange a passed "Test fulfilment" on the newest version without sending anything."""
    version = catalog_service.head_version(db, offering)
    version.dry_run_status = "passed"
    version.dry_run_message = "arranged by the test"
    version.dry_run_at = clock.now()
    db.flush()


def sign_in(client: TestClient, username: str) -> str:
    """Sign in with the form and return the CSRF token the pages' forms carry."""
    client.cookies.clear()
    client.get("/login")
    csrf = client.cookies.get("sb_csrf")
    answer = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": csrf},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return str(client.cookies.get("sb_csrf"))  # signing in renews the token
