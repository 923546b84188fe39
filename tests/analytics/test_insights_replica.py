"""Insights only read: from a second database URL (a replica) when one is configured,
showing what the main database holds once the worker's sweep has rolled it up."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from servicebay.analytics import rollup
from servicebay.core import clock, events
from servicebay.core.identity import Role
from servicebay.core.settings import Settings
from servicebay.portal.app import create_app
from servicebay.requests.fulfilment.worker import Worker
from tests.factories import PASSWORD, make_offering, make_team, make_user, token_for

INSIGHTS_CONNECTION = "servicebay-insights-test"


def read_only_url(database_url: str) -> str:
    """The same database through a second URL that cannot write: SQLite opened read-only,
    PostgreSQL with read-only transactions and a name of its own."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return f"sqlite:///file:{url.database}?mode=ro&uri=true"
    second = url.update_query_dict(
        {"application_name": INSIGHTS_CONNECTION, "options": "-c default_transaction_read_only=on"}
    )
    return second.render_as_string(hide_password=False)


def test_insights_read_through_a_second_database_url_and_show_the_rolled_up_counts(
    settings: Settings, sessions: sessionmaker[Session], db: Session
) -> None:
    team = make_team(db, "platform")
    lead = make_user(db, "pat", team=team, role=Role.LEAD)
    offering = make_offering(db, team, lead, slug="postgres")
    casey = make_user(db, "casey")
    # A form start whose 24 hours passed with no submission: only the roll-up judges it.
    events.record(
        db,
        type="offering.form_started",
        actor_id=casey.id,
        offering_id=offering.id,
        at=clock.now() - timedelta(hours=25),
    )
    headers = token_for(db, lead)
    db.commit()
    replica = settings.model_copy(
        update={"analytics_database_url": read_only_url(settings.effective_database_url)}
    )

    with TestClient(create_app(replica)) as client:
        [before] = client.get("/api/v1/analytics/rejection", headers=headers).json()
        Worker(sessions, settings, chores=(rollup.refresh,))._sweep()
        [after] = client.get("/api/v1/analytics/rejection", headers=headers).json()
        client.get("/login")
        client.post(
            "/login",
            data={"username": "pat", "password": PASSWORD, "csrf_token": client.cookies["sb_csrf"]},
        )
        page = client.get("/insights")

        assert (before["form_starts"], before["abandoned"]) == (1, 0)
        assert (after["form_starts"], after["abandoned"]) == (1, 1)
        assert page.status_code == 200 and 'data-table="rejection"' in page.text
        if db.get_bind().dialect.name == "postgresql":
            used = db.scalar(
                text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"),
                {"name": INSIGHTS_CONNECTION},
            )
            assert used, "insights were read through the second URL"
