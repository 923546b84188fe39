"""`servicebay demo`: a believable organisation with six months of history to explore."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from servicebay.catalog import service as catalog_service
from servicebay.catalog.models import Offering
from servicebay.catalog.schemas import OfferingIn
from servicebay.core import clock, identity
from servicebay.core.database import transaction
from servicebay.core.identity import Role, Team, User
from servicebay.core.outbound import OutboundPolicy
from servicebay.core.settings import Settings
from servicebay.portal import demo_fulfilment, demo_history
from servicebay.portal.demo_history import DAYS, Profile
from servicebay.requests import service as requests_service
from servicebay.requests import tasks
from servicebay.requests.fulfilment.worker import Worker
from servicebay.requests.models import Request as ServiceRequest

OPS_TEAMS = [
    ("platform", "Platform Engineering"),
    ("security", "Security"),
    ("it", "IT Service Desk"),
    ("data", "Data Platform"),
    ("legal-ops", "Legal Operations"),
    ("finance-ops", "Finance Operations"),
]
CONSUMER_TEAMS = [
    ("payments", "Payments"),
    ("mobile", "Mobile Apps"),
    ("checkout", "Checkout"),
    ("search", "Search"),
    ("growth", "Growth"),
    ("identity", "Identity"),
    ("logistics", "Logistics"),
    ("pricing", "Pricing"),
    ("support", "Customer Support"),
    ("marketing", "Marketing"),
    ("sales", "Sales"),
    ("hr", "People"),
    ("design", "Design"),
    ("analytics", "Analytics"),
    ("partners", "Partner Integrations"),
    ("billing", "Billing"),
    ("catalog-team", "Product Catalog"),
    ("notifications", "Notifications"),
    ("fraud", "Fraud Prevention"),
    ("web", "Web Storefront"),
]
PEOPLE = [
    # username, name, team, role, admin, analyst
    ("admin", "Ada Admin", None, None, True, True),
    ("pat", "Pat Platform", "platform", Role.LEAD, False, False),
    ("mo", "Mo Platform", "platform", Role.MEMBER, False, False),
    ("sam", "Sam Security", "security", Role.LEAD, False, False),
    ("ivy", "Ivy IT", "it", Role.LEAD, False, False),
    ("dara", "Dara Data", "data", Role.LEAD, False, False),
    ("lee", "Lee Legal", "legal-ops", Role.LEAD, False, False),
    ("fin", "Fin Finance", "finance-ops", Role.LEAD, False, False),
    ("casey", "Casey Consumer", "payments", Role.MEMBER, False, False),
    ("dana", "Dana Developer", "mobile", Role.MEMBER, False, False),
    ("olive", "Olive Owner", "payments", Role.LEAD, False, True),
]
# What to try first as each person who signs in (printed by `servicebay demo`).
TRY_AS: dict[str, str] = {
    "admin": "Audit log, every team's insights, publish overrides, all boards",
    "pat": "Approvals waiting for you; Ops: tasks in every column, a failed DNS run to retry",
    "mo": "Ops board: start a task, tick its checklist, finish it",
    "sam": "Security's offerings and approvals for firewall rules",
    "ivy": "IT's offerings: laptops, licences, the never-used fax line",
    "dara": "Data's offerings and their approvals",
    "lee": "Legal's consultative offerings",
    "fin": "Finance's approvals: purchase orders, budget transfers",
    "casey": "Request a PostgreSQL database, then resize it from My instances; your rated, "
    "commented and waiting requests",
    "dana": "Your failed DNS request and its retry; vote for a need under Demand",
    "olive": "Insights for every team (analyst); Payments' own requests as its lead",
}
# People of the consumer teams who appear in the history; they do not sign in.
MEMBERS_PER_CONSUMER_TEAM = 4

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
        # Each database is an instance its team resizes and, one day, decommissions.
        "instances": {
            "name_field": "database_name",
            "lifetime": {"days": 90, "extend_days": 30, "max_days": 365},
            "operations": [
                {
                    "name": "resize",
                    "label": "Resize",
                    "description": "Move the database to another size; large needs a lead.",
                    "form": {
                        "fields": [
                            {
                                "name": "size",
                                "label": "Size",
                                "type": "select",
                                "required": True,
                                "options": ["small", "medium", "large"],
                            }
                        ]
                    },
                    "approval_policy": {
                        "steps": [
                            {
                                "name": "Large databases",
                                "decider": "owner_leads",
                                "condition": 'size == "large"',
                            }
                        ]
                    },
                    "fulfilment": {
                        "kind": "plugin",
                        "plugin": "echo",
                        "settings": {"message": "Database resized."},
                    },
                },
                {
                    "name": "decommission",
                    "label": "Decommission",
                    "description": "Take a last backup and drop the database.",
                    "retires": True,
                    "fulfilment": {
                        "kind": "plugin",
                        "plugin": "echo",
                        "settings": {"message": "Database dropped; last backup kept 30 days."},
                    },
                    "allowed": ["owner", "team_leads"],
                },
            ],
        },
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
                {
                    "name": "delivery_date",
                    "label": "Needed by",
                    "type": "date",
                    "not_in_past": True,
                },
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


# slug, name, summary, category, owner team, kind, approval, SLE hours, manual minutes
MORE_OFFERINGS: list[tuple[str, str, str, str, str, str, bool, float, int]] = [
    (
        "k8s-namespace",
        "Kubernetes namespace",
        "A namespace with quotas and CI access.",
        "Compute",
        "platform",
        "standard",
        False,
        2,
        40,
    ),
    (
        "dns-record",
        "DNS record",
        "A record in an internal or public zone.",
        "Network",
        "platform",
        "standard",
        False,
        4,
        20,
    ),
    (
        "object-bucket",
        "Object storage bucket",
        "An S3-compatible bucket with lifecycle rules.",
        "Storage",
        "platform",
        "standard",
        False,
        2,
        25,
    ),
    (
        "ci-runner",
        "Dedicated CI runner",
        "A CI runner pool for heavy builds.",
        "Compute",
        "platform",
        "standard",
        True,
        48,
        90,
    ),
    (
        "architecture-review",
        "Architecture review",
        "An hour with platform architects on your design.",
        "Advice",
        "platform",
        "consultative",
        False,
        120,
        0,
    ),
    (
        "secret-rotation",
        "Secret rotation",
        "Rotate a leaked or expiring secret.",
        "Access",
        "security",
        "standard",
        False,
        2,
        30,
    ),
    (
        "firewall-rule",
        "Firewall rule",
        "Open a port between two networks.",
        "Network",
        "security",
        "standard",
        True,
        24,
        35,
    ),
    (
        "pentest",
        "Penetration test",
        "A scoped penetration test of your service.",
        "Advice",
        "security",
        "consultative",
        True,
        480,
        0,
    ),
    (
        "access-review",
        "Access review",
        "Quarterly review of who can reach what.",
        "Access",
        "security",
        "standard",
        False,
        72,
        120,
    ),
    (
        "software-licence",
        "Software licence",
        "A licence for an approved tool.",
        "Workplace",
        "it",
        "standard",
        True,
        24,
        20,
    ),
    (
        "shared-mailbox",
        "Shared mailbox",
        "A team mailbox with delegated access.",
        "Workplace",
        "it",
        "standard",
        False,
        8,
        25,
    ),
    (
        "meeting-room-kit",
        "Meeting room kit",
        "Camera and screen for a meeting room.",
        "Workplace",
        "it",
        "standard",
        False,
        120,
        90,
    ),
    (
        "analytics-dataset",
        "Analytics dataset",
        "A governed dataset in the warehouse.",
        "Data",
        "data",
        "standard",
        True,
        48,
        180,
    ),
    (
        "dashboard",
        "Dashboard",
        "A dashboard built with you by the data team.",
        "Data",
        "data",
        "consultative",
        False,
        240,
        0,
    ),
    (
        "data-export",
        "Data export",
        "A one-off export of a table, anonymised.",
        "Data",
        "data",
        "standard",
        True,
        24,
        60,
    ),
    (
        "nda",
        "Non-disclosure agreement",
        "A standard NDA ready to sign.",
        "Contracts",
        "legal-ops",
        "standard",
        False,
        24,
        45,
    ),
    (
        "contract-review",
        "Contract review",
        "Legal review of a supplier contract.",
        "Contracts",
        "legal-ops",
        "consultative",
        True,
        240,
        0,
    ),
    (
        "trademark-check",
        "Trademark check",
        "Is the product name free to use?",
        "Contracts",
        "legal-ops",
        "consultative",
        False,
        168,
        0,
    ),
    (
        "purchase-order",
        "Purchase order",
        "A purchase order for an approved supplier.",
        "Purchasing",
        "finance-ops",
        "standard",
        True,
        24,
        30,
    ),
    (
        "budget-transfer",
        "Budget transfer",
        "Move budget between cost centres.",
        "Budget",
        "finance-ops",
        "standard",
        True,
        48,
        40,
    ),
    (
        "vendor-onboarding",
        "Vendor onboarding",
        "Add a new supplier to the finance system.",
        "Purchasing",
        "finance-ops",
        "consultative",
        True,
        120,
        0,
    ),
    (
        "fax-line",
        "Fax line",
        "A virtual fax number. Rarely needed.",
        "Workplace",
        "it",
        "standard",
        False,
        48,
        30,
    ),
]

# Other words people search for each offering by, as its owner team would set them.
KEYWORDS: dict[str, list[str]] = {
    "postgres-database": ["db", "sql", "pg", "relational"],
    "vpn-access": ["remote work", "tunnel", "wireguard"],
    "laptop": ["notebook", "computer", "macbook"],
    "k8s-namespace": ["k8s", "kube", "cluster", "containers"],
    "dns-record": ["domain name", "hostname", "cname"],
    "object-bucket": ["s3", "blob", "file storage"],
    "ci-runner": ["build agent", "pipeline", "gitlab"],
    "architecture-review": ["design review", "advice"],
    "secret-rotation": ["password", "credentials", "api key"],
    "firewall-rule": ["port", "allowlist", "acl"],
    "pentest": ["pen test", "pentest", "security test"],
    "access-review": ["permissions", "recertification"],
    "software-licence": ["license", "subscription", "seat"],
    "shared-mailbox": ["email", "inbox", "distribution list"],
    "meeting-room-kit": ["video call", "webcam", "conference"],
    "analytics-dataset": ["warehouse", "bi"],
    "dashboard": ["report", "charts", "grafana"],
    "data-export": ["csv", "extract", "dump"],
    "nda": ["nda", "confidentiality"],
    "contract-review": ["agreement", "legal"],
    "trademark-check": ["brand", "name check"],
    "purchase-order": ["po", "procurement", "buy"],
    "budget-transfer": ["cost centre", "cost center", "reallocation"],
    "vendor-onboarding": ["supplier", "new vendor"],
    "fax-line": ["telefax"],
}


def offering_specs() -> list[dict[str, Any]]:
    """The demo catalog's offering definitions, keywords included."""
    specs = [*OFFERINGS, *(_more_offering(more) for more in MORE_OFFERINGS)]
    return [{**spec, "keywords": KEYWORDS.get(spec["slug"], [])} for spec in specs]


# How each offering's six months went (see demo_history.Profile).
PROFILES: dict[str, Profile] = {
    "postgres-database": Profile(6, 14, hours=0.3, fail_rate=0.08, rating=4.6),
    "vpn-access": Profile(10, 10, hours=0.1, rating=4.4),
    "laptop": Profile(5, 5, hours=40, manual_share=0.6, rating=4.0),
    "k8s-namespace": Profile(3, 12, hours=0.2, rating=4.7),
    "dns-record": Profile(8, 7, hours=0.1, fail_rate=0.12, rating=4.2),
    "object-bucket": Profile(4, 5, hours=0.2),
    "ci-runner": Profile(2, 2, approval=True, reject_rate=0.55, cancel_rate=0.1, rating=2.6),
    "architecture-review": Profile(2, 2.5, hours=60, rating=4.5),
    "secret-rotation": Profile(3, 3, hours=0.2, fail_rate=0.15),
    "firewall-rule": Profile(6, 3, approval=True, reject_rate=0.15, hours=3),
    "pentest": Profile(0.8, 1, approval=True, reject_rate=0.1, hours=200),
    "access-review": Profile(2, 1, hours=20, cancel_rate=0.3, abandon_rate=0.55, rating=2.2),
    "software-licence": Profile(7, 9, approval=True, reject_rate=0.1, hours=1),
    "shared-mailbox": Profile(2, 2, hours=4),
    "meeting-room-kit": Profile(1.5, 0.6, hours=72, manual_share=0.9),
    "analytics-dataset": Profile(1, 5, approval=True, reject_rate=0.05, hours=20),
    "dashboard": Profile(1.5, 2, hours=120),
    "data-export": Profile(4, 2, approval=True, reject_rate=0.2, hours=6),
    "nda": Profile(5, 6, hours=2, rating=4.8),
    "contract-review": Profile(2, 3, approval=True, reject_rate=0.05, hours=150),
    "trademark-check": Profile(0.5, 0.8, hours=100),
    "purchase-order": Profile(8, 8, approval=True, reject_rate=0.08, hours=4),
    "budget-transfer": Profile(3, 1.5, approval=True, reject_rate=0.3, hours=10),
    "vendor-onboarding": Profile(1, 1.2, approval=True, reject_rate=0.1, hours=60),
    # "fax-line": nobody has asked for it.
}


# Offerings fulfilled by hand (their tasks fill the owner team's board) ...
MANUAL_CHECKLISTS: dict[str, list[str]] = {
    "architecture-review": ["Read the design document", "Book the review", "Send the notes"],
}
# ... and the one whose automation fails once for a marked request (demo_fulfilment).
FLAKY = {
    "dns-record": {
        "message": "DNS record created.",
        "marker": "legacy",
        "failure": "the DNS provider refused the change to the legacy zone (HTTP 503); "
        "a retry usually works",
    }
}


def _fulfilment_of(slug: str) -> dict[str, Any]:
    if slug in MANUAL_CHECKLISTS:
        return {"kind": "manual", "checklist": MANUAL_CHECKLISTS[slug]}
    if slug in FLAKY:
        return {"kind": "plugin", "plugin": "demo-flaky", "settings": FLAKY[slug]}
    return {"kind": "plugin", "plugin": "echo", "settings": {"message": "Done."}}


def _more_offering(spec: tuple[str, str, str, str, str, str, bool, float, int]) -> dict[str, Any]:
    slug, name, summary, category, team, kind, approval, sle_hours, minutes = spec
    steps = [{"name": "Owner team lead", "decider": "owner_leads"}] if approval else []
    return {
        "slug": slug,
        "name": name,
        "summary": summary,
        "description": summary,
        "category": category,
        "tags": [category.lower()],
        "owner_team": team,
        "contact": f"{team}@example.com",
        "runbook_url": f"https://runbooks.example.com/{slug}",
        "work_kind": kind,
        "form": {
            "fields": [
                {
                    "name": "details",
                    "label": "What do you need?",
                    "type": "textarea",
                    "required": True,
                    "min_length": 5,
                }
            ]
        },
        "approval_policy": {"steps": steps},
        "fulfilment": _fulfilment_of(slug),
        "sle": {"percent": 85, "within_hours": sle_hours},
        "manual_effort_minutes": minutes,
    }


@dataclass(frozen=True)
class Persona:
    username: str
    name: str
    role: str
    try_first: str


@dataclass(frozen=True)
class DemoResult:
    created: bool
    passwords: dict[str, str]


def personas() -> list[Persona]:
    """Who signs in to the demo, in what role, and what to try first as them."""
    team_names = dict(OPS_TEAMS + CONSUMER_TEAMS)
    found = []
    for username, name, team_slug, role, admin, analyst in PEOPLE:
        if admin:
            what = "Administrator"
        elif team_slug and role:
            what = f"{'Lead' if role is Role.LEAD else 'Member'} of {team_names[team_slug]}"
        else:
            what = "No team"
        if analyst and not admin:
            what += ", analyst"
        found.append(Persona(username, name, what, TRY_AS.get(username, "")))
    return found


def load(
    sessions: sessionmaker[Session], settings: Settings, *, password: str | None
) -> DemoResult:
    """Create the demo organisation unless the database already has teams."""
    with transaction(sessions) as session:
        if identity.has_teams(session):
            return DemoResult(created=False, passwords={})
        # The organisation's history starts six months ago: so do its teams and people.
        clock.freeze(clock.now() - timedelta(days=DAYS + 1))
        try:
            teams, users, passwords, consumers = _people(session, password)
            offerings = _offerings(session, users, settings)
        finally:
            clock.freeze(None)
        demo_history.generate(
            session,
            offerings=offerings,
            profiles=PROFILES,
            consumers=consumers,
            authors=[*consumers, users["casey"], users["dana"]],
            triager=users["admin"],
        )
        requested = _open_work(session, users)
    with demo_fulfilment.first_runs_fail():
        Worker(sessions, settings).run_until_idle()
    with transaction(sessions) as session:
        _work_in_progress(session, teams["platform"].id, requested)
    with transaction(sessions) as session:
        _day_two(session, requested)
    Worker(sessions, settings).run_until_idle()
    return DemoResult(created=True, passwords=passwords)


def _day_two(session: Session, requested: dict[str, int]) -> None:
    """Operations on today's databases: Olive's grows to medium, Dana's scratch database
    is decommissioned (the worker's next pass completes both)."""
    for key, username, operation, inputs in (
        ("database-3", "olive", "resize", {"size": "medium"}),
        ("database-2", "dana", "decommission", {}),
    ):
        made = session.get_one(ServiceRequest, requested[key])
        if made.instance_id is None:
            continue
        requests_service.run_operation(
            session,
            actor=identity.get_user(session, username=username),
            instance_id=made.instance_id,
            operation=operation,
            inputs=inputs,
        )


def _open_work(session: Session, users: dict[str, User]) -> dict[str, int]:
    """Today's requests: some complete at once, some wait for a decision or a person,
    and one fails (see FLAKY). Returns their ids by what they are for."""
    samples: list[tuple[str, str, str, dict[str, Any]]] = [
        (
            "database",
            "casey",
            "postgres-database",
            {"database_name": "payments_ledger", "size": "medium"},
        ),
        # Databases are instances: one resized and one decommissioned below (_day_two).
        ("database-2", "dana", "postgres-database", {"database_name": "analytics_scratch"}),
        ("database-3", "olive", "postgres-database", {"database_name": "payments_reporting"}),
        ("vpn", "dana", "vpn-access", {"reason": "Travelling to the Lisbon office", "days": 14}),
        ("laptop", "casey", "laptop", {"model": "Standard"}),
        ("laptop-2", "dana", "laptop", {"model": "Performance", "justification": "Android builds"}),
        # Waiting for Pat, the platform lead.
        ("runner", "casey", "ci-runner", {"details": "Runners with 64 GB for the ledger build"}),
        ("runner-2", "dana", "ci-runner", {"details": "ARM runners for the iOS pipeline"}),
        # Fails while the demo loads; a retry completes it.
        ("dns", "dana", "dns-record", {"details": "CNAME api.legacy-billing to the new gateway"}),
        # Manual work on the platform board, one card per column and then some.
        ("review", "casey", "architecture-review", {"details": "Event sourcing for payments"}),
        ("review-2", "dana", "architecture-review", {"details": "Offline sync for the app"}),
        ("review-3", "olive", "architecture-review", {"details": "Splitting the ledger"}),
        ("review-4", "casey", "architecture-review", {"details": "Card vault migration"}),
    ]
    requested = {}
    for key, username, slug, inputs in samples:
        request = requests_service.submit(
            session, actor=users[username], offering_slug=slug, inputs=inputs
        )
        requested[key] = request.id
    return requested


def _work_in_progress(session: Session, platform_id: int, requested: dict[str, int]) -> None:
    """The platform team is busy: one review started, one finished; a conversation and a
    rating on the requests that completed."""
    users = {p[0]: identity.get_user(session, username=p[0]) for p in PEOPLE}
    board = tasks.board(session, team_id=platform_id)["todo"]
    by_request = {task.request_id: task for task in board}
    started = by_request[requested["review-2"]]
    tasks.advance(session, actor=users["mo"], task_id=started.id)
    tasks.tick(session, actor=users["mo"], task_id=started.id, index=0, done=True)
    finished = by_request[requested["review-3"]]
    tasks.advance(session, actor=users["pat"], task_id=finished.id)
    for index in range(len(MANUAL_CHECKLISTS["architecture-review"])):
        tasks.tick(session, actor=users["pat"], task_id=finished.id, index=index, done=True)
    tasks.advance(
        session,
        actor=users["pat"],
        task_id=finished.id,
        notes="Split by bounded context; notes are in the design document.",
    )
    requests_service.add_comment(
        session,
        actor=users["casey"],
        request_id=requested["database"],
        body="Could we get a read replica later on?",
    )
    requests_service.add_comment(
        session,
        actor=users["pat"],
        request_id=requested["database"],
        body="Yes: ask for one as a new request when you need it.",
    )
    requests_service.rate(
        session,
        actor=users["casey"],
        request_id=requested["database"],
        score=5,
        comment="Ready before my coffee was.",
    )
    requests_service.rate(
        session, actor=users["dana"], request_id=requested["vpn"], score=4, comment="Easy."
    )
    requests_service.rate(
        session,
        actor=users["olive"],
        request_id=requested["review-3"],
        score=5,
        comment="Useful notes, thank you.",
    )


def _people(
    session: Session, password: str | None
) -> tuple[dict[str, Team], dict[str, User], dict[str, str], list[User]]:
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
    consumers = []
    for slug, name in CONSUMER_TEAMS:
        for number in range(1, MEMBERS_PER_CONSUMER_TEAM + 1):
            member = identity.create_user(
                session,
                username=f"{slug}-{number}",
                password=None,
                email=f"{slug}-{number}@example.com",
                display_name=f"{name} member {number}",
            )
            identity.add_member(session, user=member, team=teams[slug])
            consumers.append(member)
    return teams, users, passwords, consumers


def _offerings(session: Session, users: dict[str, User], settings: Settings) -> dict[str, Offering]:
    outbound = OutboundPolicy.from_settings(settings)
    offerings = {}
    for spec in offering_specs():
        definition = OfferingIn.model_validate(spec)
        lead = next(
            users[p[0]] for p in PEOPLE if p[2] == definition.owner_team and p[3] is Role.LEAD
        )
        offering = catalog_service.create_offering(session, actor=lead, definition=definition)
        catalog_service.test_fulfilment(session, actor=lead, offering=offering, outbound=outbound)
        catalog_service.publish(session, actor=lead, offering=offering)
        offerings[offering.slug] = offering
    return offerings
