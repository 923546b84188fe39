"""Administrators read the audit trail on a page, filtered and paged; nobody can change it."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy.orm import Session

from servicebay.core import clock, events, identity
from servicebay.core.events import Event
from servicebay.portal.security import SESSION_COOKIE
from tests.factories import make_offering, make_team, make_user
from tests.security.test_authorization_matrix import (
    EXPECTED,
    RULES,
    UNSAFE,
    application_routes,
    build_world,
    call,
)


def _signed_in(client: TestClient, db: Session, user: identity.User) -> None:
    client.cookies.set(SESSION_COOKIE, identity.start_session(db, user=user))
    db.commit()


def test_admin_filters_the_audit_trail_by_actor_type_offering_and_day(
    client: TestClient, db: Session
) -> None:
    team = make_team(db, "platform")
    lead = make_user(db, "robin", team=team, role=identity.Role.LEAD)
    make_offering(db, team, lead, slug="database")
    clock.advance(timedelta(days=3))
    events.record(db, type="demand.created", actor_id=None, data={"title": "<b>queue</b>"})
    admin = make_user(db, "root", admin=True)
    _signed_in(client, db, admin)

    everything = client.get("/admin/audit")
    assert everything.status_code == 200
    assert "offering.published" in everything.text
    assert "queue" in everything.text and "<b>queue" not in everything.text  # shown escaped

    by_robin = client.get("/admin/audit", params={"actor": "robin", "type": "offering."})
    assert "offering.published" in by_robin.text
    assert "demand.created" not in by_robin.text
    assert "user.created" not in by_robin.text

    by_offering = client.get("/admin/audit", params={"offering": "database"})
    assert "offering.published" in by_offering.text and "demand.created" not in by_offering.text

    today = clock.now().date().isoformat()
    recent = client.get("/admin/audit", params={"since": today, "until": today})
    assert "demand.created" in recent.text and "offering.published" not in recent.text

    wrong = client.get("/admin/audit", params={"since": "yesterday"})
    assert wrong.status_code == 422
    assert "not a date" in wrong.text


def test_the_audit_page_names_people_teams_and_offerings_and_filters_by_those_names(
    client: TestClient, db: Session
) -> None:
    team = make_team(db, "platform")
    lead = identity.create_user(
        db, username="robin", password="correct-horse-battery", display_name="Robin Hale"
    )
    identity.add_member(db, user=lead, team=team, role=identity.Role.LEAD)
    offering = make_offering(db, team, lead, slug="database", name="Managed database")
    events.record(
        db,
        type="tasks.wip_limit_set",
        actor_id=lead.id,
        offering_id=offering.id,
        data={"team_id": team.id, "column": "doing", "limit": 3, "override": False},
    )
    _signed_in(client, db, make_user(db, "root", admin=True))

    page = client.get("/admin/audit", params={"type": "tasks."}).text
    row = page[page.index("tasks.wip_limit_set") :].split("</tr>")[0]
    assert "Robin Hale" in row and "Managed database" in row
    assert f"<dt>Team</dt><dd>{team.name}</dd>" in row
    assert "<dt>Override</dt><dd>no</dd>" in row
    assert '{"' not in row and "team_id" not in row

    for shown in ("Robin Hale", "robin"):
        by_actor = client.get("/admin/audit", params={"actor": shown, "type": "tasks."}).text
        assert "tasks.wip_limit_set" in by_actor
    for shown in ("Managed database", "database"):
        by_offering = client.get("/admin/audit", params={"offering": shown}).text
        assert "tasks.wip_limit_set" in by_offering and "offering.published" in by_offering
    nobody = client.get("/admin/audit", params={"actor": "Someone Else", "type": "tasks."})
    assert "No events match these filters." in nobody.text


def test_audit_page_pages_back_through_older_events(client: TestClient, db: Session) -> None:
    for number in range(60):
        events.record(db, type="test.event", actor_id=None, data={"n": number})
    _signed_in(client, db, make_user(db, admin=True))
    first = client.get("/admin/audit", params={"type": "test.event"})
    assert first.text.count("test.event") >= 50
    assert "Older →" in first.text
    older = first.text.split('href="')[-1]  # the pager's link comes last
    link = older.split('"')[0].replace("&amp;", "&")
    second = client.get(link)
    assert second.status_code == 200
    assert "<dt>N</dt><dd>0</dd>" in second.text and "<dd>59</dd>" not in second.text


def test_the_audit_trail_is_only_for_administrators(client: TestClient, db: Session) -> None:
    _signed_in(client, db, make_user(db, analyst=True))
    assert client.get("/admin/audit").status_code == 403


CHANGES_EVENTS = re.compile(
    r'^\s*(update\s+"?core_event"?\s|delete\s+from\s+"?core_event"?\b|truncate\b.*\bcore_event\b)',
    re.IGNORECASE | re.DOTALL,
)


def test_no_route_changes_or_deletes_events(app: FastAPI, db: Session) -> None:
    """Every unsafe route, called by a user it lets through, only ever adds events."""
    world = build_world(db)
    events.record(db, type="test.earlier", actor_id=None, data={"kept": True})
    db.commit()
    before = _event_rows(db)
    issued: list[str] = []

    def watch(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if CHANGES_EVENTS.match(statement):
            issued.append(statement)

    unsafe = [route for route in application_routes(app) if route.methods & UNSAFE]
    # Signing in again (which replaces the session) and out come last: the others need it.
    unsafe.sort(key=lambda route: route.name in ("login_submit", "logout"))
    sqlalchemy_event.listen(Engine, "before_cursor_execute", watch)
    try:
        with TestClient(app, follow_redirects=False) as client:
            for route in unsafe:
                answer = call(client, world, route, _let_through(route.name))
                assert answer.status_code < 500, (route.name, answer.text[:300])
    finally:
        sqlalchemy_event.remove(Engine, "before_cursor_execute", watch)

    assert len(unsafe) > 40
    assert issued == []
    after = _event_rows(db)
    assert {id_: row for id_, row in after.items() if id_ in before} == before
    assert len(after) > len(before)  # the calls did record events of their own


def _let_through(name: str) -> str:
    """A kind of user the route lets through (so it does its work), or one it refuses."""
    return min(RULES[EXPECTED[name]], default="admin")


def _event_rows(db: Session) -> dict[int, tuple[Any, ...]]:
    rows = {row.id: tuple(row) for row in db.execute(select(Event.__table__))}
    db.rollback()  # hold no transaction while the app works; see what it committed next time
    return rows


def test_audit_api_takes_a_time_without_a_zone_as_utc(client: TestClient, db: Session) -> None:
    admin = make_user(db, admin=True)
    headers = {"Authorization": f"Bearer {identity.create_token(db, user=admin, name='t').value}"}
    db.commit()
    answer = client.get(
        "/api/v1/audit/events", params={"since": "2000-01-01T00:00:00"}, headers=headers
    )
    assert answer.status_code == 200
    assert any(e["type"] == "user.created" for e in answer.json()["events"])
