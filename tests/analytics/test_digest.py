"""A team's retrospective digest: what flowed, what waited and where, what failed and how
fast it recovered, what was rated low and why, the top unmet demand, and the offerings
whose verdict changed; a finding becomes a need in the team's backlog in one action."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from servicebay.analytics import digest
from servicebay.catalog import demand as demand_service
from servicebay.catalog.models import Demand, Offering
from servicebay.core import clock, preferences
from servicebay.core.errors import NotFound
from servicebay.core.identity import Role, Team, User
from servicebay.core.settings import Settings
from servicebay.requests import notifications
from servicebay.requests.fulfilment.worker import Worker
from servicebay.requests.models import FulfilmentRun, Notification
from tests.analytics.history import make_history
from tests.factories import make_offering, make_team, make_user, sign_in

# A Monday: the weekly digest reads Monday 8 June to Sunday 14 June.
NOW = datetime(2026, 6, 15, 7, tzinfo=UTC)
WEEK = datetime(2026, 6, 8, 9, tzinfo=UTC)
WEEK_BEFORE = datetime(2026, 6, 1, 9, tzinfo=UTC)
FORTNIGHT_BEFORE = datetime(2026, 5, 25, 9, tzinfo=UTC)


def _done(at: datetime, hours: int = 2) -> list[tuple[str, datetime]]:
    return [
        ("submitted", at),
        ("in_fulfilment", at + timedelta(minutes=1)),
        ("completed", at + timedelta(hours=hours)),
    ]


def _team_week(db: Session) -> dict[str, object]:
    platform = make_team(db, "platform")
    lead = make_user(db, "lead", team=platform, role=Role.LEAD)
    casey = make_user(db, "casey", team=make_team(db, "payments"))
    outsider = make_user(db, "olga", team=make_team(db, "sales"))
    postgres = make_offering(db, platform, lead, slug="postgres", name="PostgreSQL database")
    laptop = make_offering(db, platform, lead, slug="laptop", name="Laptop")
    for offering in (postgres, laptop):
        offering.created_at = FORTNIGHT_BEFORE - timedelta(days=30)
    # Flowed: 3 completed this week (two took 50 hours), 1 the week before.
    make_history(db, postgres, casey, _done(WEEK_BEFORE))
    for n, hours in enumerate((2, 50, 50)):
        make_history(db, postgres, casey, _done(WEEK + timedelta(days=n), hours=hours))
    # Failed, and completed 7 hours after the failure.
    at = WEEK + timedelta(days=3)
    make_history(
        db,
        postgres,
        casey,
        [
            ("submitted", at),
            ("in_fulfilment", at + timedelta(minutes=1)),
            ("failed", at + timedelta(hours=1)),
            ("in_fulfilment", at + timedelta(hours=7)),
            ("completed", at + timedelta(hours=8)),
        ],
    )
    # Rated low, and why.
    rated = make_history(db, postgres, casey, _done(WEEK + timedelta(days=4)))
    rated.rating, rated.rating_comment = 1, "the database came without backups"
    rated.rated_at = WEEK + timedelta(days=4, hours=3)
    # Waiting: an open request queued since the start of the week.
    make_history(db, postgres, casey, [("submitted", WEEK - timedelta(hours=1))])
    # Laptop: growing the week before (10 after none), struggling now (1 after 10).
    for n in range(10):
        make_history(db, laptop, casey, _done(WEEK_BEFORE + timedelta(hours=5 * n)))
    make_history(db, laptop, casey, _done(WEEK + timedelta(days=1)))
    # Unmet demand: the platform team's most voted need, not another team's.
    ours = demand_service.create(db, actor=casey, title="Managed Kafka", team_slug="platform")
    demand_service.vote(db, actor=outsider, demand=ours)
    demand_service.create(db, actor=casey, title="Expense cards", team_slug="sales")
    db.flush()
    return {"lead": lead, "outsider": outsider, "laptop": laptop}


def test_the_digest_tells_a_lead_what_the_week_held(db: Session) -> None:
    clock.freeze(NOW)
    made = _team_week(db)
    lead = made["lead"]
    assert isinstance(lead, User)

    found = digest.digest(db, viewer=lead, team_slug="platform")

    assert (found.period.since.date().isoformat(), found.last_day.isoformat()) == (
        "2026-06-08",
        "2026-06-14",
    )
    assert (found.completed, found.previous_completed) == (6, 11)
    assert found.lead_p85_days == 3
    assert found.failed == 1
    assert (found.recoveries, found.recovery_p50_hours) == (1, 7)
    assert found.waited[0].stage == "fulfilment"
    assert [(item.offering_name, item.age_days) for item in found.oldest_open] == [
        ("PostgreSQL database", 7)
    ]
    assert [(r.offering_name, r.score, r.comment) for r in found.low_ratings] == [
        ("PostgreSQL database", 1, "the database came without backups")
    ]
    assert [(need.title, need.votes) for need in found.unmet_demand] == [("Managed Kafka", 2)]
    assert [(c.offering_name, c.before, c.now) for c in found.verdict_changes] == [
        ("Laptop", "growing", "struggling"),
        ("PostgreSQL database", "adopted", "growing"),
    ]


def test_a_team_reads_no_other_teams_digest(db: Session) -> None:
    clock.freeze(NOW)
    made = _team_week(db)
    outsider = made["outsider"]
    assert isinstance(outsider, User)

    with pytest.raises(NotFound):
        digest.digest(db, viewer=outsider, team_slug="platform")


def test_the_digest_page_shows_the_week_and_files_a_finding_into_the_backlog(
    client: TestClient, db: Session
) -> None:
    clock.freeze(NOW)
    _team_week(db)
    db.commit()
    sign_in(client, "lead")
    insights = client.get("/insights").text
    link = re.search(r'<p id="digests">.*?href="([^"]+)"', insights, re.S)
    assert link is not None and link.group(1).endswith("/insights/digest?team=platform")

    page = client.get(link.group(1))

    assert page.status_code == 200
    html = page.text
    assert "2026-06-08 to 2026-06-14" in html
    assert re.search(
        r'data-finding="flowed"><strong>6</strong> requests completed \(before: 11\)', html
    )
    assert "the database came without backups" in html
    assert "Managed Kafka" in html and "Expense cards" not in html
    laptop = html.split('data-offering="laptop"', 1)[1].split("</li>", 1)[0]
    assert "growing → <strong>struggling</strong>" in laptop
    form = re.search(r'<form method="post" action="([^"]+)"(.*?)</form>', laptop, re.S)
    assert form is not None
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form.group(2)))
    filed = client.post(form.group(1), data=fields, follow_redirects=False)

    assert filed.status_code == 303
    need = db.query(Demand).filter(Demand.title == "Laptop is now struggling").one()
    assert need.team_id == db.query(Offering).filter_by(slug="laptop").one().owner_team_id


def test_a_consumer_gets_not_found_for_a_teams_digest(client: TestClient, db: Session) -> None:
    clock.freeze(NOW)
    _team_week(db)
    db.commit()
    sign_in(client, "olga")

    assert client.get("/insights/digest?team=platform").status_code == 404


def _digest_emails(db: Session) -> list[FulfilmentRun]:
    statement = (
        select(FulfilmentRun).where(FulfilmentRun.kind == "email").order_by(FulfilmentRun.id)
    )
    return [run for run in db.scalars(statement) if "digest" in run.payload["subject"]]


def test_the_worker_sends_each_member_the_digest_once_a_week_as_they_chose(
    db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    clock.freeze(NOW)
    notifications.configure(sessions, email=True, base_url="https://portal.example")
    made = _team_week(db)
    lead = made["lead"]
    assert isinstance(lead, User)
    quiet = make_user(db, "quinn", team=db.query(Team).filter_by(slug="platform").one())
    preferences.choose(
        db, user_id=quiet.id, email=False, topics=[t for t in preferences.TOPICS if t != "digest"]
    )
    db.commit()
    worker = Worker(sessions, settings, chores=(digest.send_due,))

    worker._sweep()
    worker._sweep()

    emails = _digest_emails(db)
    assert [run.payload["to"] for run in emails] == [lead.email]
    body = emails[0].payload["body"]
    assert "2026-06-08 to 2026-06-14" in emails[0].payload["subject"]
    assert "Completed: 6 (before: 11)" in body
    assert "Verdict changed: Laptop: growing to struggling" in body
    assert "https://portal.example/insights/digest?team=platform" in body
    in_app = db.scalars(select(Notification.user_id).where(Notification.message.contains("digest")))
    assert list(in_app) == [lead.id]
    db.rollback()

    clock.freeze(NOW + timedelta(days=6))
    worker._sweep()
    assert len(_digest_emails(db)) == 1, "the next window has not ended"
    db.rollback()

    clock.freeze(NOW + timedelta(days=7))
    worker._sweep()
    emails = _digest_emails(db)
    assert len(emails) == 2
    assert "2026-06-15 to 2026-06-21" in emails[1].payload["subject"]


def test_a_lead_sets_the_cadence_and_the_digest_spans_it(client: TestClient, db: Session) -> None:
    clock.freeze(NOW)
    _team_week(db)
    make_user(db, "mo", team=db.query(Team).filter_by(slug="platform").one())
    db.commit()
    sign_in(client, "mo")
    page = client.get("/insights/digest?team=platform").text
    assert 'id="cadence"' not in page
    csrf = client.cookies.get("sb_csrf")
    form = {"team": "platform", "cadence_days": "14", "csrf_token": csrf}
    assert client.post("/insights/digest/cadence", data=form).status_code == 403

    sign_in(client, "lead")
    form["csrf_token"] = client.cookies.get("sb_csrf")
    saved = client.post("/insights/digest/cadence", data=form, follow_redirects=False)

    assert saved.status_code == 303
    html = client.get("/insights/digest?team=platform").text
    assert "2026-06-01 to 2026-06-14 (14 days)" in html
    assert re.search(r'data-finding="flowed"><strong>17</strong> requests completed', html)


def test_the_digest_and_its_cadences_are_defined_in_the_metrics_document() -> None:
    text = (Path(__file__).parents[2] / "docs" / "metrics.md").read_text()
    section = text.split("## Retrospective digest", 1)[1].split("\n## ", 1)[0]

    assert f"weekly, {digest.WEEKLY} days" in section
    for days in digest.CADENCES[1:]:
        assert str(days) in section
    for finding in ("what flowed", "what waited", "what failed", "rated low", "unmet demand"):
        assert finding in section
    assert preferences.TOPICS["digest"] in section


def test_a_team_in_rome_gets_the_week_of_romes_days(
    db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    # Monday 15 June 01:30 in Rome, still Sunday 14 June in UTC.
    clock.freeze(datetime(2026, 6, 14, 23, 30, tzinfo=UTC))
    notifications.configure(sessions, email=True, base_url="https://portal.example")
    platform = make_team(db, "platform")
    platform.reporting_timezone = "Europe/Rome"
    lead = make_user(db, "lead", team=platform, role=Role.LEAD)
    postgres = make_offering(db, platform, lead, slug="postgres", name="PostgreSQL database")
    postgres.created_at = FORTNIGHT_BEFORE
    rome = timedelta(hours=2)  # summer time
    in_rome = [
        datetime(2026, 6, 8, 0, 30) - rome,  # Monday 00:30 there, Sunday evening in UTC
        datetime(2026, 6, 14, 23, 30) - rome,
    ]
    outside = [
        datetime(2026, 6, 7, 23, 30) - rome,  # Sunday before, Sunday 21:30 UTC
        datetime(2026, 6, 15, 0, 10) - rome,  # Monday 00:10 there, Sunday 22:10 UTC
    ]
    for at in in_rome + outside:
        finished = at.replace(tzinfo=UTC)
        make_history(db, postgres, lead, _done(finished - timedelta(hours=2), hours=2))
    db.commit()

    found = digest.digest(db, viewer=lead, team_slug="platform")

    assert (found.first_day.isoformat(), found.last_day.isoformat()) == (
        "2026-06-08",
        "2026-06-14",
    )
    assert found.period.since == datetime(2026, 6, 7, 22, tzinfo=UTC)
    assert found.completed == 2
    db.rollback()
    # The worker sends Rome's week once Rome's Sunday has ended, UTC's or not.
    Worker(sessions, settings, chores=(digest.send_due,))._sweep()
    emails = _digest_emails(db)
    assert len(emails) == 1
    assert "2026-06-08 to 2026-06-14" in emails[0].payload["subject"]
    assert "Completed: 2 (before: 1)" in emails[0].payload["body"]
