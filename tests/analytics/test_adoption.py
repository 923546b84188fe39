"""Adoption and rejection per offering, by source, and each offering's class."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from servicebay.analytics import adoption, health, rollup
from servicebay.analytics.scope import Period
from servicebay.core import clock, events
from servicebay.core.identity import Role
from tests.analytics.history import make_history
from tests.factories import make_offering, make_team, make_user, token_for

NOW = datetime(2026, 6, 30, 12, tzinfo=UTC)
PERIOD = Period(datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC))
IN_PERIOD = datetime(2026, 6, 10, 9, tzinfo=UTC)
BEFORE = datetime(2026, 5, 10, 9, tzinfo=UTC)


def _ops(db: Session):  # type: ignore[no-untyped-def]
    team = make_team(db)
    lead = make_user(db, team=team, role=Role.LEAD)
    return team, lead


def _done(at: datetime) -> list[tuple[str, datetime]]:
    return [
        ("submitted", at),
        ("in_fulfilment", at + timedelta(minutes=1)),
        ("completed", at + timedelta(hours=2)),
    ]


def test_adoption_counts_views_starts_submissions_requesters_teams_and_reach(db: Session) -> None:
    clock.freeze(NOW)
    team, lead = _ops(db)
    offering = make_offering(db, team, lead)
    payments, mobile = make_team(db), make_team(db)
    ana = make_user(db, team=payments)
    bo = make_user(db, team=mobile)
    make_user(db, team=mobile)  # active, never asked: lowers reach
    for at in (IN_PERIOD, IN_PERIOD + timedelta(days=3)):
        make_history(db, offering, ana, _done(at))
    make_history(db, offering, bo, _done(IN_PERIOD))
    make_history(db, offering, bo, _done(BEFORE))
    for _ in range(5):
        events.record(
            db, type="offering.viewed", actor_id=ana.id, offering_id=offering.id, at=IN_PERIOD
        )
    events.record(
        db, type="offering.form_started", actor_id=ana.id, offering_id=offering.id, at=IN_PERIOD
    )
    db.flush()

    [row] = adoption.adoption(db, offerings=[offering], period=PERIOD)

    assert (row.views, row.form_starts, row.submitted, row.completed) == (5, 1, 3, 3)
    assert (row.unique_requesters, row.unique_teams) == (2, 2)
    assert row.repeat_share == 0.5  # ana asked twice, bo once
    assert row.previous_submitted == 1 and row.trend == 2.0
    # 2 requesters of 4 active team members: the ops lead, ana, bo and the silent one.
    assert row.reach == 2 / 4


def test_rejection_is_reported_by_source_with_reasons(db: Session) -> None:
    clock.freeze(NOW)
    team, lead = _ops(db)
    offering = make_offering(db, team, lead)
    user = make_user(db, team=make_team(db))
    t = IN_PERIOD
    make_history(
        db,
        offering,
        user,
        [("submitted", t), ("pending_approval", t), ("rejected", t + timedelta(hours=1))],
        data={"rejected": {"reason": "use the shared cluster"}},
    )
    make_history(db, offering, user, [("submitted", t), ("cancelled", t + timedelta(hours=1))])
    make_history(
        db,
        offering,
        user,
        [
            ("submitted", t),
            ("in_fulfilment", t),
            ("run.attempt_failed", t),
            ("failed", t + timedelta(minutes=5)),
            ("in_fulfilment", t + timedelta(hours=1)),
            ("completed", t + timedelta(hours=2)),
            ("request.rated", t + timedelta(hours=3)),
        ],
        data={"request.rated": {"rating": 1}},
    )
    make_history(db, offering, user, _done(t))
    # Two form starts: one followed by a submission within 24 h, one abandoned.
    events.record(
        db,
        type="offering.form_started",
        actor_id=user.id,
        offering_id=offering.id,
        at=t - timedelta(minutes=10),
    )
    events.record(
        db,
        type="offering.form_started",
        actor_id=user.id,
        offering_id=offering.id,
        at=t + timedelta(days=5),
    )
    db.flush()
    rollup.refresh(db)  # the worker's sweep judges form starts whose 24 hours passed

    [row] = adoption.rejection(db, offerings=[offering], period=PERIOD)

    assert (row.form_starts, row.abandoned, row.cancelled) == (2, 1, 1)
    assert (row.ratings, row.low_ratings, row.average_rating) == (1, 1, 1.0)
    assert row.approval_rejections == 1
    assert row.reasons == [("use the shared cluster", 1)]
    assert (row.failed, row.retries) == (1, 1)


def test_a_drop_is_struggling_only_from_enough_requests(db: Session) -> None:
    """One vocabulary, health's; and a swing of a request or two among few is no verdict."""
    clock.freeze(NOW)
    team, lead = _ops(db)
    user = make_user(db, team=make_team(db))
    growing = make_offering(db, team, lead)
    few = make_offering(db, team, lead)
    many = make_offering(db, team, lead)
    steady = make_offering(db, team, lead)
    unused = make_offering(db, team, lead)
    for offering, before, now in ((growing, 2, 5), (few, 5, 2), (many, 10, 7), (steady, 5, 5)):
        for n in range(before):
            make_history(db, offering, user, _done(BEFORE + timedelta(hours=n)))
        for n in range(now):
            make_history(db, offering, user, _done(IN_PERIOD + timedelta(hours=n)))
    db.flush()

    verdicts = {
        found.offering_id: (found.verdict, found.number, found.rule)
        for found in health.offering_health(
            db, offerings=[growing, few, many, steady, unused], period=PERIOD
        )
    }

    assert verdicts[growing.id][:2] == ("growing", "+150 %")
    assert verdicts[few.id][0] == "adopted", "2 after 5 is too few to call a trend"
    assert verdicts[many.id] == (
        "struggling",
        "-30 %",
        "7 requests after 10 in the previous period",
    )
    assert verdicts[steady.id][0] == "adopted"
    assert verdicts[unused.id][0] == "zero uptake"
    assert health.MIN_STRUGGLING_BASE == 10


def test_team_members_see_only_their_teams_offerings_and_analysts_see_all(
    client: TestClient, db: Session
) -> None:
    platform, platform_lead = _ops(db)
    security, security_lead = _ops(db)
    make_offering(db, platform, platform_lead, slug="postgres")
    make_offering(db, security, security_lead, slug="pentest")
    analyst = make_user(db, analyst=True)
    consumer = make_user(db, team=make_team(db))
    headers = {
        "platform": token_for(db, platform_lead),
        "analyst": token_for(db, analyst),
        "consumer": token_for(db, consumer),
    }
    db.commit()

    def seen(who: str) -> set[str]:
        response = client.get("/api/v1/analytics/adoption", headers=headers[who])
        assert response.status_code == 200, response.text
        return {row["offering"] for row in response.json()}

    assert seen("platform") == {"postgres"}
    assert seen("analyst") == {"postgres", "pentest"}
    assert seen("consumer") == set()


def test_every_table_exports_as_csv_with_the_same_numbers(client: TestClient, db: Session) -> None:
    team, lead = _ops(db)
    offering = make_offering(db, team, lead, slug="postgres")
    user = make_user(db, team=make_team(db))
    make_history(db, offering, user, _done(clock.now() - timedelta(days=2)))
    headers = token_for(db, lead)
    db.commit()

    rows = client.get("/api/v1/analytics/adoption", headers=headers).json()
    exported = client.get("/api/v1/analytics/adoption?format=csv", headers=headers)

    assert exported.headers["content-type"].startswith("text/csv")
    header, line = exported.text.splitlines()[:2]
    assert header.split(",")[:7] == [
        "offering",
        "name",
        "owner_team",
        "work_kind",
        "views",
        "form_starts",
        "submitted",
    ]
    assert (
        line.split(",")[0] == "postgres" and line.split(",")[6] == str(rows[0]["submitted"]) == "1"
    )
    for name in (
        "rejection",
        "flow",
        "throughput",
        "wip",
        "aging",
        "cumulative-flow",
        "lead-times",
        "work-mix",
        "time-saved",
        "unmet-needs",
        "empty-searches",
        "forecast",
    ):
        answer = client.get(f"/api/v1/analytics/{name}?format=csv", headers=headers)
        assert answer.status_code == 200, (name, answer.text)
    assert client.get("/api/v1/analytics/nothing", headers=headers).status_code == 404


def test_drill_down_lists_the_requests_behind_a_number(client: TestClient, db: Session) -> None:
    team, lead = _ops(db)
    offering = make_offering(db, team, lead, slug="postgres")
    user = make_user(db, team=make_team(db))
    done = make_history(db, offering, user, _done(clock.now() - timedelta(days=2)))
    make_history(db, offering, user, [("submitted", clock.now() - timedelta(days=1))])
    headers = token_for(db, lead)
    db.commit()

    completed = client.get(
        "/api/v1/analytics/requests?metric=completed&offering=postgres", headers=headers
    )
    submitted = client.get("/api/v1/analytics/requests?metric=submitted", headers=headers)
    bad = client.get("/api/v1/analytics/requests?metric=nonsense", headers=headers)

    assert [row["request_id"] for row in completed.json()] == [done.id]
    assert len(submitted.json()) == 2
    assert bad.status_code == 422 and "no drill-down" in bad.json()["detail"]


def test_a_started_form_is_counted_once_posted(client: TestClient, db: Session) -> None:
    team, lead = _ops(db)
    make_offering(db, team, lead, slug="postgres")
    user = make_user(db, team=make_team(db))
    headers = token_for(db, user)
    lead_headers = token_for(db, lead)
    db.commit()

    answer = client.post(
        "/api/v1/analytics/form-started", json={"offering": "postgres"}, headers=headers
    )
    missing = client.post(
        "/api/v1/analytics/form-started", json={"offering": "nope"}, headers=headers
    )

    assert answer.status_code == 204
    assert missing.status_code == 404
    rows = client.get("/api/v1/analytics/adoption", headers=lead_headers).json()
    assert rows[0]["form_starts"] == 1
