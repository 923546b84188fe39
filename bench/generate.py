"""Data generator: a company-sized catalog and request history in a PostgreSQL database.

Default scale: 10,000 offerings, 200 teams, 50,000 users, 1,000,000 requests with their
events (two views, the submission, the start of fulfilment and the end of each request).
Popularity is skewed as in real catalogs: a few offerings take most requests (a power
law over offerings), team sizes vary, most requests complete and some fail, are
rejected or cancelled; six months of history.

One offering is made through the catalog service (so its form, policy and version are
what the product makes); the rest are cloned from it in SQL, in batches, with a
progress bar. Run on its own:

    .venv/bin/python -m bench.generate postgresql+psycopg://postgres@127.0.0.1/servicebay_bench
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import click
from sqlalchemy import Engine, text

from servicebay.catalog import service as catalog_service
from servicebay.catalog.schemas import OfferingIn
from servicebay.core import clock, identity, migrations
from servicebay.core.database import make_engine, make_sessionmaker, transaction
from servicebay.core.identity import Role


@dataclass(frozen=True)
class Scale:
    offerings: int = 10_000
    teams: int = 200
    users: int = 50_000
    requests: int = 1_000_000

    @classmethod
    def quick(cls) -> Scale:
        return cls(offerings=1_000, teams=40, users=2_000, requests=20_000)


NOUNS = [
    "PostgreSQL database", "Kafka topic", "S3 bucket", "TLS certificate", "VPN access",
    "laptop", "software licence", "Git repository", "CI pipeline", "Kubernetes namespace",
    "DNS record", "firewall rule", "service account", "Vault secret", "Grafana dashboard",
    "on-call rotation", "legal review", "purchase order", "vendor contract", "data export",
]  # fmt: skip
VERBS = ["New", "Resize", "Renew", "Delete", "Grant", "Revoke", "Audit", "Migrate", "Restore"]
CATEGORIES = ["Infrastructure", "Security", "Access", "Developer tools", "Legal", "Finance"]
BATCH = 50_000


def generate(url: str, scale: Scale, *, show_progress: bool = True) -> None:
    """Fill the (empty, migrated) database at ``url``; PostgreSQL only."""
    migrations.upgrade(url)
    engine = make_engine(url)
    try:
        template = _template_offering(engine)
        steps = 4 + -(-scale.requests // BATCH)
        with _progress(steps, show_progress) as advance:
            with engine.begin() as connection:
                connection.execute(_TEAMS, {"teams": scale.teams})
            advance()
            with engine.begin() as connection:
                connection.execute(_USERS, {"users": scale.users, "teams": scale.teams})
            advance()
            with engine.begin() as connection:
                for statement in _OFFERINGS:
                    connection.execute(
                        statement,
                        {
                            "template": template,
                            "offerings": scale.offerings - 1,
                            "teams": scale.teams,
                            "nouns": NOUNS,
                            "verbs": VERBS,
                            "categories": CATEGORIES,
                        },
                    )
            advance()
            for start in range(0, scale.requests, BATCH):
                with engine.begin() as connection:
                    end = min(start + BATCH, scale.requests)
                    connection.execute(_REQUESTS, {"first": start + 1, "last": end})
                    connection.execute(_EVENTS, {"first": start + 1, "last": end})
                advance()
            with engine.connect() as connection:
                connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                    text("VACUUM ANALYZE")
                )
            advance()
    finally:
        engine.dispose()


def _template_offering(engine: Engine) -> int:
    """The one offering made by the product itself; returns its id."""
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as session:
        team = identity.create_team(session, slug="team-0000", name="Platform")
        lead = identity.create_user(
            session, username="lead", password="bench-password-1", display_name="Lead"
        )
        identity.add_member(session, user=lead, team=team, role=Role.LEAD)
        definition = OfferingIn.model_validate(
            {
                "slug": "svc-00000",
                "name": "New PostgreSQL database",
                "summary": "A managed PostgreSQL database with daily backups",
                "description": "A managed **PostgreSQL** database, backed up daily.",
                "category": "Infrastructure",
                "tags": ["database", "postgresql"],
                "contact": "#platform-help",
                "runbook_url": "https://runbooks.example.com/database",
                "sle": {"percent": 85, "within_hours": 48},
                "owner_team": team.slug,
                "form": {
                    "fields": [
                        {"name": "name", "label": "Name", "required": True, "pattern": "[a-z_]+"},
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
        )
        offering = catalog_service.create_offering(session, actor=lead, definition=definition)
        version = catalog_service.head_version(session, offering)
        version.dry_run_status, version.dry_run_at = "passed", clock.now()
        version.dry_run_message = "generated"
        session.flush()
        catalog_service.publish(session, actor=lead, offering=offering)
        return offering.id


@contextmanager
def _progress(steps: int, show: bool) -> Iterator[Callable[[], None]]:
    if not show:
        yield lambda: None
        return
    with click.progressbar(length=steps, label="generating", file=sys.stderr) as bar:
        yield lambda: bar.update(1)


_TEAMS = text("""
INSERT INTO core_team (slug, name, created_at)
SELECT format('team-%s', lpad(n::text, 4, '0')), format('Team %s', n), now() - interval '200 days'
FROM generate_series(1, CAST(:teams AS int) - 1) AS n
""")

# Team sizes are skewed: low-numbered teams are much bigger.
_USERS = text("""
WITH made AS (
  INSERT INTO core_user (username, email, display_name, password_hash, is_admin, is_analyst,
                         is_active, created_at, failed_logins)
  SELECT format('user%s', n), format('user%s@example.com', n), format('User %s', n), NULL,
         false, n % 500 = 0, true, now() - interval '200 days', 0
  FROM generate_series(1, CAST(:users AS int)) AS n
  RETURNING id
), placed AS (
  SELECT id, floor(:teams * power(random(), 2))::int AS team_number FROM made
)
INSERT INTO core_membership (user_id, team_id, role)
SELECT placed.id, team.id, CASE WHEN placed.id % 50 = 0 THEN 'lead' ELSE 'member' END
FROM placed
JOIN core_team AS team ON team.slug = format('team-%s', lpad(placed.team_number::text, 4, '0'))
""")

_OFFERINGS = [
    text("""
INSERT INTO catalog_offering (slug, name, summary, description, category, tags, owner_team_id,
    contact, runbook_url, work_kind, status, visible_team_ids, deprecation_notice,
    created_at, updated_at)
SELECT format('svc-%s', lpad(n::text, 5, '0')),
       format('%s %s %s', (CAST(:verbs AS text[]))[1 + n % 9],
              (CAST(:nouns AS text[]))[1 + (n / 9) % 20], n),
       format('%s for your team: %s, ready in two days',
              (CAST(:nouns AS text[]))[1 + (n / 9) % 20], (CAST(:verbs AS text[]))[1 + n % 9]),
       t.description, (CAST(:categories AS text[]))[1 + n % 6],
       json_build_array(lower(split_part((CAST(:nouns AS text[]))[1 + (n / 9) % 20], ' ', 1)),
                        lower((CAST(:categories AS text[]))[1 + n % 6])),
       (SELECT id FROM core_team ORDER BY id OFFSET (n % :teams) LIMIT 1),
       t.contact, t.runbook_url, CASE WHEN n % 4 = 0 THEN 'consultative' ELSE 'standard' END,
       'published', t.visible_team_ids, '', t.created_at, t.updated_at
FROM catalog_offering AS t, generate_series(1, CAST(:offerings AS int)) AS n
WHERE t.id = :template
"""),
    text("""
INSERT INTO catalog_offering_version (offering_id, number, status, details, no_input_needed,
    form, approval_policy, fulfilment, webhook_secret, sle_percent, sle_hours, cost,
    manual_effort_minutes, quota_count, quota_period_days, dry_run_status, dry_run_message,
    dry_run_at, created_at, published_at)
SELECT o.id, v.number, v.status, v.details, v.no_input_needed, v.form, v.approval_policy,
       v.fulfilment, v.webhook_secret, v.sle_percent, v.sle_hours, v.cost,
       v.manual_effort_minutes, v.quota_count, v.quota_period_days, v.dry_run_status,
       v.dry_run_message, v.dry_run_at, v.created_at, v.published_at
FROM catalog_offering AS o
JOIN catalog_offering AS t ON t.id = :template
JOIN catalog_offering_version AS v ON v.id = t.current_version_id
WHERE o.current_version_id IS NULL
"""),
    text("""
UPDATE catalog_offering AS o SET current_version_id = v.id
FROM catalog_offering_version AS v
WHERE v.offering_id = o.id AND o.current_version_id IS NULL
"""),
]

# Offering popularity follows a power law over the offering ids; requesters are uniform.
_REQUESTS = text("""
WITH bounds AS (
  SELECT min(id) AS first_offering, count(*) AS offerings FROM catalog_offering
), users AS (
  SELECT min(id) AS first_user, count(*) AS users FROM core_user
), drawn AS (
  SELECT n,
         b.first_offering + floor(b.offerings * power(random(), 3))::int AS offering_id,
         u.first_user + floor(u.users * random())::int AS requester_id,
         now() - random() * interval '180 days' AS submitted_at,
         random() AS fate
  FROM generate_series(CAST(:first AS int), CAST(:last AS int)) AS n, bounds AS b, users AS u
)
INSERT INTO requests_request (offering_id, offering_version_id, requester_id, team_id, inputs,
    outputs, status, submitted_at, updated_at, closed_at, rating)
SELECT d.offering_id, o.current_version_id, d.requester_id, m.team_id,
       '{"name": "ledger", "size": "small"}', '{}',
       CASE WHEN d.fate < 0.85 THEN 'completed' WHEN d.fate < 0.90 THEN 'failed'
            WHEN d.fate < 0.94 THEN 'rejected' WHEN d.fate < 0.97 THEN 'cancelled'
            ELSE 'in_fulfilment' END,
       d.submitted_at, d.submitted_at + interval '1 hour',
       CASE WHEN d.fate < 0.97 THEN d.submitted_at + random() * interval '72 hours' END,
       CASE WHEN d.fate < 0.30 THEN 1 + floor(random() * 5)::int END
FROM drawn AS d
JOIN catalog_offering AS o ON o.id = d.offering_id
LEFT JOIN core_membership AS m ON m.user_id = d.requester_id
""")

_EVENTS = text("""
WITH batch AS (SELECT * FROM requests_request WHERE id BETWEEN :first AND :last)
INSERT INTO core_event (occurred_at, type, actor_id, offering_id, request_id, data)
SELECT e.occurred_at, e.type, r.requester_id, r.offering_id, e.request_id, '{}'
FROM batch AS r
CROSS JOIN LATERAL (VALUES
  (r.submitted_at - interval '10 minutes', 'offering.viewed', NULL::int),
  (r.submitted_at - interval '2 minutes', 'offering.viewed', NULL::int),
  (r.submitted_at, 'request.submitted', r.id),
  (r.submitted_at + interval '1 second', 'request.in_fulfilment', r.id),
  (r.closed_at, 'request.' || r.status, r.id)
) AS e (occurred_at, type, request_id)
WHERE e.occurred_at IS NOT NULL
""")


@click.command()
@click.argument("url")
@click.option("--quick", is_flag=True, help="A small data set for a quick check.")
def main(url: str, quick: bool) -> None:
    """Fill the empty PostgreSQL database at URL with generated data."""
    generate(url, Scale.quick() if quick else Scale())


if __name__ == "__main__":
    main()
