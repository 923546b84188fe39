"""Benchmark: the main insights page and adoption API over a large PostgreSQL history.

Generates REQUESTS completed requests (8 events each: three views, a form start, the
submission, the start of fulfilment, the completion and a rating) over six months in a
fresh PostgreSQL database, then times

* the one-time roll-up of the whole Event log,
* GET /api/v1/analytics/adoption and GET /insights (median of several runs),
* the naive query over raw events that computes the same adoption counts, and
* the flow views: GET /api/v1/analytics/flow and GET /insights/flow (median of a few runs).

All views cover the default period, the last 30 days. Run from the repository root
(PostgreSQL at SERVICEBAY_TEST_POSTGRES_URL, as for tests):

    .venv/bin/python bench/insights.py --requests 1000000 --keep

``--keep`` keeps the database and prints its name; ``--database NAME`` measures such a
kept database again without generating it.

Not a test: it prints its measurements for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from servicebay.analytics import flow, reports, rollup
from servicebay.catalog import service as catalog_service
from servicebay.catalog.schemas import OfferingIn
from servicebay.core import clock, identity, migrations
from servicebay.core.database import make_engine, make_sessionmaker, transaction
from servicebay.core.identity import Role
from servicebay.core.settings import Settings
from servicebay.portal.app import create_app

ADMIN_URL = os.environ.get(
    "SERVICEBAY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
OFFERINGS = 25
TEAMS = 20
USERS_PER_TEAM = 50
PASSWORD = "bench-password-1"
# The flow views and every other tab and table: fewer runs of them.
FLOW_RUNS = 3
TABS = ["/insights", "/insights/flow", "/insights/value", "/insights/demand"]


def timed(action: Callable[[], Any], runs: int = 5) -> tuple[float, Any]:
    """Median seconds over ``runs`` runs after one warm-up, and the last result."""
    result = action()
    durations = []
    for _ in range(runs):
        started = time.perf_counter()
        result = action()
        durations.append(time.perf_counter() - started)
    return statistics.median(durations), result


def organisation(url: str) -> None:
    sessions = make_sessionmaker(make_engine(url))
    with transaction(sessions) as session:
        ops = identity.create_team(session, slug="platform", name="Platform")
        lead = identity.create_user(session, username="pat", password=PASSWORD, is_analyst=True)
        identity.add_member(session, user=lead, team=ops, role=Role.LEAD)
        for number in range(OFFERINGS):
            definition = OfferingIn.model_validate(
                {
                    "slug": f"offering-{number}",
                    "name": f"Offering {number}",
                    "description": f"Offering number {number}.",
                    "contact": "#platform-help",
                    "runbook_url": "https://runbooks.example.com/offering",
                    "sle": {"percent": 85, "within_hours": 24},
                    "owner_team": "platform",
                    "form": {"fields": [{"name": "details", "label": "Details"}]},
                    "fulfilment": {"kind": "plugin", "plugin": "echo"},
                    "manual_effort_minutes": 30,
                }
            )
            offering = catalog_service.create_offering(session, actor=lead, definition=definition)
            version = catalog_service.head_version(session, offering)
            version.dry_run_status, version.dry_run_at = "passed", clock.now()
            version.dry_run_message = "generated"
            catalog_service.publish(session, actor=lead, offering=offering)
        for team_number in range(TEAMS):
            team = identity.create_team(
                session, slug=f"team-{team_number}", name=f"Team {team_number}"
            )
            for user_number in range(USERS_PER_TEAM):
                user = identity.create_user(
                    session, username=f"u{team_number}-{user_number}", password=None
                )
                identity.add_member(session, user=user, team=team)


def history(url: str, requests: int) -> None:
    """Requests and their events, generated inside PostgreSQL."""
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                """
                INSERT INTO requests_request (offering_id, offering_version_id, requester_id,
                    team_id, inputs, outputs, status, submitted_at, updated_at, closed_at)
                SELECT o.id, o.current_version_id, u.user_id, u.team_id, '{}', '{}', 'completed',
                       s.at, s.at + s.took, s.at + s.took
                FROM generate_series(1, :requests) AS g(n)
                CROSS JOIN LATERAL (
                    SELECT (now() at time zone 'utc') - random() * interval '182 days' AS at,
                           random() * interval '30 hours' + interval '1 minute' AS took,
                           g.n AS n
                ) AS s
                JOIN (SELECT id, current_version_id, row_number() OVER (ORDER BY id) - 1 AS k
                      FROM catalog_offering) AS o ON o.k = s.n % :offerings
                JOIN (SELECT user_id, team_id, row_number() OVER (ORDER BY id) - 1 AS k
                      FROM core_membership WHERE role = 'member') AS u
                  ON u.k = (s.n::bigint * 7919) % :members
                """
            ),
            {"requests": requests, "offerings": OFFERINGS, "members": TEAMS * USERS_PER_TEAM},
        )
        connection.execute(
            text(
                """
                INSERT INTO core_event (occurred_at, type, actor_id, offering_id, request_id, data)
                SELECT e.at, e.type, e.actor, r.offering_id, e.request_id, e.data::json
                FROM requests_request AS r
                CROSS JOIN LATERAL (VALUES
                    (r.submitted_at - interval '20 minutes', 'offering.viewed',
                     r.requester_id, NULL::int, '{}'),
                    (r.submitted_at - interval '15 minutes', 'offering.viewed',
                     r.requester_id, NULL, '{}'),
                    (r.submitted_at - interval '10 minutes', 'offering.viewed',
                     r.requester_id, NULL, '{}'),
                    (r.submitted_at - interval '5 minutes', 'offering.form_started',
                     r.requester_id, NULL, '{}'),
                    (r.submitted_at, 'request.submitted', r.requester_id, r.id, '{}'),
                    (r.submitted_at + interval '1 minute', 'request.in_fulfilment',
                     NULL, r.id, '{"from": "submitted"}'),
                    (r.closed_at, 'request.completed',
                     NULL, r.id, '{"from": "in_fulfilment"}'),
                    (r.closed_at + interval '1 hour', 'request.rated', r.requester_id, r.id,
                     '{"rating": ' || (1 + r.id % 5) || '}')
                ) AS e(at, type, actor, request_id, data)
                """
            )
        )
    engine.dispose()
    # Fresh statistics and visibility map, as autovacuum would leave them.
    with create_engine(url, isolation_level="AUTOCOMMIT").connect() as connection:
        connection.execute(text("VACUUM ANALYZE"))


# The adoption API's numbers (this and the previous period's counts, unique and repeat
# requesters, teams) computed straight from the raw events, as before the roll-up.
NAIVE_COUNTS = """
SELECT e.offering_id,
       count(*) FILTER (WHERE e.type = 'offering.viewed' AND e.occurred_at >= :since),
       count(*) FILTER (WHERE e.type = 'offering.form_started' AND e.occurred_at >= :since),
       count(*) FILTER (WHERE e.type = 'request.submitted' AND e.occurred_at >= :since),
       count(*) FILTER (WHERE e.type = 'request.completed' AND e.occurred_at >= :since),
       count(*) FILTER (WHERE e.type = 'request.submitted' AND e.occurred_at < :since)
FROM core_event AS e
WHERE e.occurred_at >= :previous AND e.occurred_at < :until
  AND e.type IN ('offering.viewed', 'offering.form_started', 'request.submitted',
                 'request.completed')
GROUP BY e.offering_id
"""
NAIVE_REQUESTERS = """
WITH asked AS (
    SELECT e.offering_id, e.actor_id, r.team_id, count(*) AS times
    FROM core_event AS e JOIN requests_request AS r ON r.id = e.request_id
    WHERE e.type = 'request.submitted' AND e.occurred_at >= :since AND e.occurred_at < :until
    GROUP BY e.offering_id, e.actor_id, r.team_id
)
SELECT people.offering_id, people.requesters, people.repeat, teams.teams
FROM (
    SELECT offering_id, count(*) AS requesters, count(*) FILTER (WHERE times >= 2) AS repeat
    FROM (SELECT offering_id, actor_id, sum(times) AS times FROM asked GROUP BY 1, 2) AS once
    GROUP BY offering_id
) AS people
JOIN (
    SELECT offering_id, count(DISTINCT team_id) AS teams FROM asked GROUP BY offering_id
) AS teams ON teams.offering_id = people.offering_id
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="Keep the database afterwards.")
    parser.add_argument(
        "--database", help="Measure this kept database again instead of generating one."
    )
    arguments = parser.parse_args()

    if arguments.database:
        url = make_url(ADMIN_URL).set(database=arguments.database)
        measure(url.render_as_string(hide_password=False))
        return
    name = f"servicebay_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        generate(url, arguments.requests)
        measure(url)
    finally:
        if arguments.keep:
            print(f"kept the database {name}")
        else:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def generate(url: str, requests: int) -> None:
    migrations.upgrade(url)
    organisation(url)
    started = time.perf_counter()
    history(url, requests)
    print(f"generated {requests:,} requests in {time.perf_counter() - started:.1f} s")


def measure(url: str) -> None:
    migrations.upgrade(url)
    engine = make_engine(url)
    with engine.connect() as connection:
        events = connection.execute(text("SELECT count(*) FROM core_event")).scalar_one()
    print(f"events: {events:,}")

    sessions = make_sessionmaker(engine)
    started = time.perf_counter()
    with transaction(sessions) as session:
        rollup.refresh(session)
    print(f"one-time roll-up of the whole log: {time.perf_counter() - started:.1f} s")

    now = clock.now()
    until = (now + timedelta(days=1)).date()
    since = until - timedelta(days=30)
    with engine.connect() as connection:

        def naive() -> Any:
            bounds = {
                "previous": (since - timedelta(days=30)).isoformat(),
                "since": since.isoformat(),
                "until": until.isoformat(),
            }
            counts = connection.execute(text(NAIVE_COUNTS), bounds).all()
            return counts, connection.execute(text(NAIVE_REQUESTERS), bounds).all()

        naive_seconds, _ = timed(naive, runs=3)
    print(f"naive adoption queries over raw events (30 days): {naive_seconds * 1000:.0f} ms")

    settings = Settings(
        database_url=url,
        secret_key="bench-secret-key-not-for-production",
        data_dir=tempfile.gettempdir(),
    )
    with TestClient(create_app(settings)) as client:
        client.get("/login")
        signed_in = client.post(
            "/login",
            data={
                "username": "pat",
                "password": PASSWORD,
                "csrf_token": client.cookies.get("sb_csrf"),
            },
            follow_redirects=False,
        )
        assert signed_in.status_code == 303, signed_in.text
        api_seconds, answer = timed(lambda: client.get("/api/v1/analytics/adoption"))
        assert answer.status_code == 200, answer.text
        page_seconds, page = timed(lambda: client.get("/insights"))
        assert page.status_code == 200
        flow_api_seconds, flow_table = timed(
            lambda: client.get("/api/v1/analytics/flow"), runs=FLOW_RUNS
        )
        assert flow_table.status_code == 200, flow_table.text
        flow_page_seconds, flow_page = timed(lambda: client.get("/insights/flow"), runs=FLOW_RUNS)
        assert flow_page.status_code == 200
        every: list[tuple[str, float]] = []
        for path in [*TABS, *(f"/api/v1/analytics/{name}" for name in reports.TABLES)]:
            seconds, answer = timed(lambda path=path: client.get(path), runs=FLOW_RUNS)
            assert answer.status_code == 200, (path, answer.text[:300])
            every.append((path, seconds))
    print(f"GET /api/v1/analytics/adoption: {api_seconds * 1000:.0f} ms")
    print(f"GET /insights (adoption and rejection): {page_seconds * 1000:.0f} ms")
    print(f"speed-up of the API over the naive query: {naive_seconds / api_seconds:.1f}x")
    print(f"GET /api/v1/analytics/flow (flow per offering): {flow_api_seconds * 1000:.0f} ms")
    print(f"GET /insights/flow (every flow table and chart): {flow_page_seconds * 1000:.0f} ms")
    naive_flow_seconds = naive_replay(sessions, since, until)
    print(f"naive replay, flow per offering: {naive_flow_seconds * 1000:.0f} ms")
    print(f"speed-up of the flow API over the replay: {naive_flow_seconds / flow_api_seconds:.1f}x")
    for path, seconds in every:
        print(f"GET {path}: {seconds * 1000:.0f} ms")
    engine.dispose()


def naive_replay(sessions: Any, since: Any, until: Any) -> float:
    """Median seconds of the flow table computed by replaying the period's events."""
    with sessions() as session:
        offering_ids = tuple(session.scalars(text("SELECT id FROM catalog_offering")))
        scope = flow.Scope(
            datetime.combine(since, datetime.min.time(), UTC),
            datetime.combine(until, datetime.min.time(), UTC),
            offering_ids,
        )
        seconds, _ = timed(
            lambda: flow.per_offering(flow.load_replayed(session, scope), scope), runs=FLOW_RUNS
        )
    return seconds


if __name__ == "__main__":
    main()
