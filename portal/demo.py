"""`servicebay demo`: a small believable organisation to click through."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from servicebay.catalog import service as catalog_service
from servicebay.catalog.schemas import OfferingIn
from servicebay.core import identity
from servicebay.core.database import transaction
from servicebay.core.identity import Role, Team, User
from servicebay.core.outbound import OutboundPolicy
from servicebay.core.settings import Settings
from servicebay.requests import service as requests_service
from servicebay.requests.fulfilment.worker import Worker

OPS_TEAMS = [
    ("platform", "Platform Engineering"),
    ("security", "Security"),
    ("it", "IT Service Desk"),
]
CONSUMER_TEAMS = [("payments", "Payments"), ("mobile", "Mobile Apps")]
PEOPLE = [
    # username, name, team, role, admin, analyst
    ("admin", "Ada Admin", None, None, True, True),
    ("pat", "Pat Platform", "platform", Role.LEAD, False, False),
    ("mo", "Mo Platform", "platform", Role.MEMBER, False, False),
    ("sam", "Sam Security", "security", Role.LEAD, False, False),
    ("ivy", "Ivy IT", "it", Role.LEAD, False, False),
    ("casey", "Casey Consumer", "payments", Role.MEMBER, False, False),
    ("dana", "Dana Developer", "mobile", Role.MEMBER, False, False),
    ("olive", "Olive Owner", "payments", Role.LEAD, False, True),
]

OFFERINGS: list[dict[str, object]] = [
    {
        "slug": "postgres-database",
        "name": "PostgreSQL database",
        "summary": "A managed PostgreSQL database with backups, ready in minutes.",
        "description": "You get a database, a user and a connection string.\n\n"
        "* Daily backups, kept 14 days\n* Monitoring and alerts to your team",
        "category": "Data",
        "tags": ["database", "postgres", "storage"],
        "owner_team": "platform",
        "contact": "#platform-help",
        "runbook_url": "https://runbooks.example.com/postgres",
        "form": {
            "fields": [
                {
                    "name": "database_name",
                    "label": "Database name",
                    "required": True,
                    "pattern": "[a-z][a-z0-9_]{2,30}",
                    "help": "Lowercase letters, digits and _",
                },
                {
                    "name": "size",
                    "label": "Size",
                    "type": "select",
                    "required": True,
                    "options": ["small", "medium", "large"],
                    "default": "small",
                },
            ]
        },
        "fulfilment": {
            "kind": "plugin",
            "plugin": "echo",
            "settings": {"message": "Database created."},
        },
        "sle": {"percent": 85, "within_hours": 4},
        "cost": 40.0,
        "manual_effort_minutes": 45,
    },
    {
        "slug": "vpn-access",
        "name": "VPN access",
        "summary": "Remote access to the internal network for a limited time.",
        "description": "Access is granted to your account for the number of days you choose.",
        "category": "Access",
        "tags": ["access", "network", "remote"],
        "owner_team": "security",
        "contact": "security@example.com",
        "runbook_url": "https://runbooks.example.com/vpn",
        "form": {
            "fields": [
                {
                    "name": "reason",
                    "label": "Why do you need it?",
                    "type": "textarea",
                    "required": True,
                    "min_length": 10,
                },
                {
                    "name": "days",
                    "label": "For how many days",
                    "type": "number",
                    "required": True,
                    "min": 1,
                    "max": 90,
                    "default": 30,
                },
            ]
        },
        "fulfilment": {
            "kind": "plugin",
            "plugin": "echo",
            "settings": {"message": "VPN profile issued."},
        },
        "sle": {"percent": 90, "within_hours": 24},
        "manual_effort_minutes": 15,
    },
    {
        "slug": "laptop",
        "name": "New laptop",
        "summary": "A standard or performance laptop, set up with your tools.",
        "description": "Pick a model. Performance laptops need a reason.",
        "category": "Workplace",
        "tags": ["hardware", "laptop"],
        "owner_team": "it",
        "contact": "it-desk@example.com",
        "runbook_url": "https://runbooks.example.com/laptops",
        "work_kind": "standard",
        "form": {
            "fields": [
                {
                    "name": "model",
                    "label": "Model",
                    "type": "select",
                    "required": True,
                    "options": ["Standard", "Performance"],
                },
                {
                    "name": "justification",
                    "label": "Why a performance laptop?",
                    "type": "textarea",
                    "required": True,
                    "show_if": {"field": "model", "equals": "Performance"},
                },
                {"name": "delivery_date", "label": "Needed by", "type": "date"},
            ]
        },
        "fulfilment": {
            "kind": "plugin",
            "plugin": "echo",
            "settings": {"message": "Laptop ordered."},
        },
        "sle": {"percent": 80, "within_hours": 72},
        "cost": 1200.0,
        "manual_effort_minutes": 60,
    },
]


@dataclass(frozen=True)
class DemoResult:
    created: bool
    passwords: dict[str, str]


def load(
    sessions: sessionmaker[Session], settings: Settings, *, password: str | None
) -> DemoResult:
    """Create the demo organisation unless the database already has teams."""
    with transaction(sessions) as session:
        if session.scalar(select(Team.id).limit(1)) is not None:
            return DemoResult(created=False, passwords={})
        teams = {
            slug: identity.create_team(session, slug=slug, name=name)
            for slug, name in OPS_TEAMS + CONSUMER_TEAMS
        }
        passwords: dict[str, str] = {}
        users: dict[str, User] = {}
        for username, name, team_slug, role, admin, analyst in PEOPLE:
            passwords[username] = password or secrets.token_urlsafe(9)
            user = identity.create_user(
                session,
                username=username,
                password=passwords[username],
                email=f"{username}@example.com",
                display_name=name,
                is_admin=admin,
                is_analyst=analyst,
            )
            if team_slug and role:
                identity.add_member(session, user=user, team=teams[team_slug], role=role)
            users[username] = user
        outbound = OutboundPolicy.from_lists(
            settings.fulfilment_allowed_networks, settings.fulfilment_allowed_hosts
        )
        for spec in OFFERINGS:
            definition = OfferingIn.model_validate(spec)
            lead = next(
                users[p[0]] for p in PEOPLE if p[2] == definition.owner_team and p[3] is Role.LEAD
            )
            offering = catalog_service.create_offering(session, actor=lead, definition=definition)
            catalog_service.test_fulfilment(
                session, actor=lead, offering=offering, outbound=outbound
            )
            catalog_service.publish(session, actor=lead, offering=offering)
        samples: list[tuple[str, str, dict[str, Any]]] = [
            ("casey", "postgres-database", {"database_name": "payments_ledger", "size": "medium"}),
            ("dana", "vpn-access", {"reason": "Travelling to the Lisbon office", "days": 14}),
            ("casey", "laptop", {"model": "Standard"}),
            ("dana", "laptop", {"model": "Performance", "justification": "Android builds"}),
        ]
        for username, slug, inputs in samples:
            requests_service.submit(
                session, actor=users[username], offering_slug=slug, inputs=inputs
            )
    Worker(sessions, settings).run_until_idle()
    return DemoResult(created=True, passwords=passwords)
