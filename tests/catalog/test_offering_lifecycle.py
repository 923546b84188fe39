"""Offerings through the API: versions, lifecycle, readiness gate and who may do what."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from servicebay.core.events import Event
from servicebay.core.identity import Role, Team, User
from servicebay.requests.models import Request
from tests.factories import make_offering, make_team, make_user, offering_definition, token_for
from tests.receiver import Receiver

SECRET = "whsec_c2VydmljZWJheS10ZXN0LXNlY3JldA=="


def _ops_team(db: Session) -> tuple[Team, User, User]:
    team = make_team(db)
    lead = make_user(db, team=team, role=Role.LEAD)
    member = make_user(db, team=team)
    return team, lead, member


def _ready(team: Team, **overrides: Any) -> dict[str, Any]:
    return offering_definition(team, **overrides)


def _create_and_publish(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> str:
    assert client.post("/api/v1/offerings", headers=headers, json=body).status_code == 201
    slug = str(body["slug"])
    tested = client.post(f"/api/v1/offerings/{slug}/test-fulfilment", headers=headers)
    assert tested.json()["passed"], tested.text
    published = client.post(f"/api/v1/offerings/{slug}/publish", headers=headers)
    assert published.status_code == 200, published.text
    return slug


def test_editing_a_published_offering_opens_a_draft_and_publishing_makes_it_current(
    client: TestClient, db: Session
) -> None:
    team, lead, _ = _ops_team(db)
    consumer = make_user(db, team=make_team(db))
    headers, consumer_headers = token_for(db, lead), token_for(db, consumer)
    db.commit()
    body = _ready(team, name="Database")
    slug = _create_and_publish(client, headers, body)
    first = client.post(
        "/api/v1/requests",
        headers=consumer_headers,
        json={"offering": slug, "inputs": {"name": "ledger", "size": "small"}},
    )
    assert first.status_code == 201, first.text

    changed = client.put(
        f"/api/v1/offerings/{slug}", headers=headers, json={**body, "name": "Managed database"}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == 1 and changed.json()["draft_version"] == 2
    listed = client.get("/api/v1/offerings", headers=headers).json()["items"]
    assert [(o["slug"], o["version"], o["draft_version"]) for o in listed] == [(slug, 1, 2)]
    # The portal still shows version 1 until version 2 is published.
    assert client.get(f"/api/v1/offerings/{slug}", headers=consumer_headers).json()["name"] == (
        "Database"
    )
    refused = client.post(f"/api/v1/offerings/{slug}/publish", headers=headers)
    assert refused.status_code == 409
    assert {p["field"] for p in refused.json()["detail"]} == {"dry_run"}
    client.post(f"/api/v1/offerings/{slug}/test-fulfilment", headers=headers)
    published = client.post(f"/api/v1/offerings/{slug}/publish", headers=headers).json()
    assert (published["version"], published["name"]) == (2, "Managed database")
    listed = client.get("/api/v1/offerings", headers=headers).json()["items"]
    assert [(o["version"], o["draft_version"]) for o in listed] == [(2, None)]

    second = client.post(
        "/api/v1/requests",
        headers=consumer_headers,
        json={"offering": slug, "inputs": {"name": "ledger", "size": "small"}},
    )
    numbers = {r.id: r.version.number for r in db.scalars(select(Request)).unique()}
    db.rollback()
    assert numbers == {first.json()["id"]: 1, second.json()["id"]: 2}
    versions = client.get(f"/api/v1/offerings/{slug}/versions", headers=headers).json()
    assert [(v["number"], v["status"]) for v in versions] == [(1, "superseded"), (2, "published")]


def test_publishing_is_refused_with_every_failing_readiness_check(
    client: TestClient, db: Session
) -> None:
    team, lead, _ = _ops_team(db)
    headers = token_for(db, lead)
    db.commit()
    bare = {
        "slug": "bare",
        "name": "Bare",
        "owner_team": team.slug,
        "fulfilment": {"kind": "manual"},
    }
    assert client.post("/api/v1/offerings", headers=headers, json=bare).status_code == 201
    scorecard = client.get("/api/v1/offerings/bare/readiness", headers=headers).json()
    assert not scorecard["ready"]
    refused = client.post("/api/v1/offerings/bare/publish", headers=headers)
    assert refused.status_code == 409
    assert {p["field"] for p in refused.json()["detail"]} == {
        "owner_and_contact",
        "description",
        "form",
        "sle",
        "runbook",
        "dry_run",
    }
    assert client.get("/api/v1/offerings/bare", headers=headers).json()["status"] == "draft"


def test_an_admin_may_publish_past_failing_checks_with_a_reason_recorded(
    client: TestClient, db: Session
) -> None:
    team, lead, _ = _ops_team(db)
    admin = make_user(db, admin=True)
    headers, admin_headers = token_for(db, lead), token_for(db, admin)
    db.commit()
    body = _ready(team)
    client.post("/api/v1/offerings", headers=headers, json=body)
    slug = body["slug"]
    lead_try = client.post(
        f"/api/v1/offerings/{slug}/publish", headers=headers, json={"override_reason": "urgent"}
    )
    assert lead_try.status_code == 403
    no_reason = client.post(
        f"/api/v1/offerings/{slug}/publish", headers=admin_headers, json={"override_reason": " "}
    )
    assert no_reason.status_code == 409
    done = client.post(
        f"/api/v1/offerings/{slug}/publish",
        headers=admin_headers,
        json={"override_reason": "receiver is down for maintenance"},
    )
    assert done.json()["status"] == "published"
    event = db.scalars(select(Event).where(Event.type == "offering.readiness_overridden")).one()
    assert event.data["reason"] == "receiver is down for maintenance"
    assert event.data["failing"] == ["dry_run"]
    db.rollback()


def test_dry_run_sends_a_signed_test_event_and_records_a_failure(
    client: TestClient, db: Session
) -> None:
    team, lead, _ = _ops_team(db)
    headers = token_for(db, lead)
    db.commit()
    with Receiver(secret=SECRET, replies=[(500, "boom"), (204, "")]) as hook:
        body = _ready(team, fulfilment={"kind": "webhook", "url": hook.url}, webhook_secret=SECRET)
        client.post("/api/v1/offerings", headers=headers, json=body)
        slug = body["slug"]
        failed = client.post(f"/api/v1/offerings/{slug}/test-fulfilment", headers=headers)
        assert failed.json()["passed"] is False and "500" in failed.json()["message"]
        scorecard = client.get(f"/api/v1/offerings/{slug}/readiness", headers=headers).json()
        dry_run = next(c for c in scorecard["checks"] if c["name"] == "dry_run")
        assert not dry_run["passed"] and "500" in dry_run["hint"]
        passed = client.post(f"/api/v1/offerings/{slug}/test-fulfilment", headers=headers)
        assert passed.json()["passed"] is True
        assert all(d.signature_valid for d in hook.deliveries)
        assert hook.deliveries[0].body["type"] == "test"
        test_request = hook.deliveries[0].body["data"]["request"]
        assert test_request["inputs"] == {"name": "test", "size": "small"}
    assert client.get(f"/api/v1/offerings/{slug}/readiness", headers=headers).json()["ready"]


def test_dry_run_refuses_private_addresses_not_allowed_by_configuration(
    client: TestClient, db: Session, settings: Any
) -> None:
    team, lead, _ = _ops_team(db)
    headers = token_for(db, lead)
    db.commit()
    body = _ready(team, fulfilment={"kind": "webhook", "url": "http://10.1.2.3/hook"})
    client.post("/api/v1/offerings", headers=headers, json=body)
    result = client.post(f"/api/v1/offerings/{body['slug']}/test-fulfilment", headers=headers)
    assert result.json()["passed"] is False
    assert "private or internal" in result.json()["message"]


def test_webhook_secret_is_never_returned_or_logged(
    client: TestClient, db: Session, caplog: Any
) -> None:
    team, lead, _ = _ops_team(db)
    headers = token_for(db, lead)
    db.commit()
    with Receiver(secret=SECRET) as hook:
        body = _ready(team, fulfilment={"kind": "webhook", "url": hook.url}, webhook_secret=SECRET)
        answers = [client.post("/api/v1/offerings", headers=headers, json=body)]
        slug = body["slug"]
        answers.append(client.post(f"/api/v1/offerings/{slug}/test-fulfilment", headers=headers))
        answers.append(client.get(f"/api/v1/offerings/{slug}", headers=headers))
        answers.append(
            client.get(f"/api/v1/offerings/{slug}/versions/1/definition", headers=headers)
        )
        # Saving without a secret keeps the stored one (it is write-only).
        without = {k: v for k, v in body.items() if k != "webhook_secret"}
        answers.append(client.put(f"/api/v1/offerings/{slug}", headers=headers, json=without))
        answers.append(client.post(f"/api/v1/offerings/{slug}/test-fulfilment", headers=headers))
        assert hook.deliveries[-1].signature_valid
    for answer in answers:
        assert answer.status_code < 300, answer.text
        assert SECRET not in answer.text
    assert answers[2].json()["signing_secret_set"] is True
    assert SECRET not in caplog.text


def test_deprecated_offering_stays_visible_with_notice_but_takes_no_requests(
    client: TestClient, db: Session
) -> None:
    team, lead, _ = _ops_team(db)
    consumer = make_user(db, team=make_team(db))
    old = make_offering(db, team, lead, name="Old database")
    new = make_offering(db, team, lead, name="New database")
    headers, consumer_headers = token_for(db, lead), token_for(db, consumer)
    db.commit()
    deprecated = client.post(
        f"/api/v1/offerings/{old.slug}/deprecate",
        headers=headers,
        json={"replacement": new.slug, "notice": "Use the new database."},
    )
    assert deprecated.json()["status"] == "deprecated"
    shown = client.get(f"/api/v1/offerings/{old.slug}", headers=consumer_headers).json()
    assert (shown["replacement"], shown["deprecation_notice"]) == (
        new.slug,
        "Use the new database.",
    )
    refused = client.post(
        "/api/v1/requests",
        headers=consumer_headers,
        json={"offering": old.slug, "inputs": {"name": "x", "size": "small"}},
    )
    assert refused.status_code == 409


def test_retired_offering_disappears_but_its_requests_remain(
    client: TestClient, db: Session
) -> None:
    team, lead, _ = _ops_team(db)
    consumer = make_user(db, team=make_team(db))
    offering = make_offering(db, team, lead)
    headers, consumer_headers = token_for(db, lead), token_for(db, consumer)
    db.commit()
    made = client.post(
        "/api/v1/requests",
        headers=consumer_headers,
        json={"offering": offering.slug, "inputs": {"name": "ledger", "size": "small"}},
    ).json()
    assert (
        client.post(f"/api/v1/offerings/{offering.slug}/retire", headers=headers).json()["status"]
        == "retired"
    )
    assert (
        client.get(f"/api/v1/offerings/{offering.slug}", headers=consumer_headers).status_code
        == 404
    )
    listed = client.get("/api/v1/offerings", headers=consumer_headers).json()
    assert listed["total"] == 0
    kept = client.get(f"/api/v1/requests/{made['id']}", headers=consumer_headers)
    assert kept.status_code == 200 and kept.json()["id"] == made["id"]


def test_offering_visible_only_to_listed_teams(client: TestClient, db: Session) -> None:
    team, lead, _ = _ops_team(db)
    finance = make_team(db)
    insider = make_user(db, team=finance)
    outsider = make_user(db, team=make_team(db))
    offering = make_offering(db, team, lead, visibility=[finance.slug])
    inside, outside = token_for(db, insider), token_for(db, outsider)
    db.commit()
    assert client.get(f"/api/v1/offerings/{offering.slug}", headers=inside).status_code == 200
    assert client.get(f"/api/v1/offerings/{offering.slug}", headers=outside).status_code == 404
    assert client.get("/api/v1/offerings", headers=outside).json()["total"] == 0


# --- authorization -------------------------------------------------------------


def test_only_owner_team_members_may_create_or_change_an_offering(
    client: TestClient, db: Session
) -> None:
    team, lead, member = _ops_team(db)
    stranger = make_user(db, team=make_team(db))
    offering = make_offering(db, team, lead, publish=False)
    stranger_headers, member_headers = token_for(db, stranger), token_for(db, member)
    db.commit()
    body = _ready(team, slug=offering.slug, name="Renamed")
    assert (
        client.post("/api/v1/offerings", headers=stranger_headers, json=_ready(team)).status_code
        == 403
    )
    assert (
        client.put(
            f"/api/v1/offerings/{offering.slug}", headers=stranger_headers, json=body
        ).status_code
        == 404
    )
    assert (
        client.put(
            f"/api/v1/offerings/{offering.slug}", headers=member_headers, json=body
        ).status_code
        == 200
    )


def test_stranger_may_not_change_a_published_offering(client: TestClient, db: Session) -> None:
    team, lead, _ = _ops_team(db)
    stranger = make_user(db, team=make_team(db))
    offering = make_offering(db, team, lead)
    headers = token_for(db, stranger)
    db.commit()
    body = _ready(team, slug=offering.slug, name="Hijacked")
    assert (
        client.put(f"/api/v1/offerings/{offering.slug}", headers=headers, json=body).status_code
        == 403
    )
    assert (
        client.post(
            f"/api/v1/offerings/{offering.slug}/test-fulfilment", headers=headers
        ).status_code
        == 403
    )
    assert (
        client.get(f"/api/v1/offerings/{offering.slug}/readiness", headers=headers).status_code
        == 403
    )


def test_members_who_are_not_leads_may_not_publish_deprecate_or_retire(
    client: TestClient, db: Session
) -> None:
    team, lead, member = _ops_team(db)
    draft = make_offering(db, team, lead, publish=False)
    live = make_offering(db, team, lead)
    headers = token_for(db, member)
    db.commit()
    assert (
        client.post(f"/api/v1/offerings/{draft.slug}/publish", headers=headers).status_code == 403
    )
    assert (
        client.post(f"/api/v1/offerings/{live.slug}/deprecate", headers=headers).status_code == 403
    )
    assert client.post(f"/api/v1/offerings/{live.slug}/retire", headers=headers).status_code == 403
    assert (
        client.get(f"/api/v1/offerings/{live.slug}", headers=headers).json()["status"]
        == "published"
    )


def test_admin_may_change_and_retire_any_offering(client: TestClient, db: Session) -> None:
    team, lead, _ = _ops_team(db)
    admin = make_user(db, admin=True)
    offering = make_offering(db, team, lead)
    headers = token_for(db, admin)
    db.commit()
    body = _ready(team, slug=offering.slug, name="By the admin")
    assert (
        client.put(f"/api/v1/offerings/{offering.slug}", headers=headers, json=body).status_code
        == 200
    )
    assert (
        client.post(f"/api/v1/offerings/{offering.slug}/retire", headers=headers).status_code == 200
    )


def test_a_read_only_token_may_not_change_offerings(client: TestClient, db: Session) -> None:
    team, lead, _ = _ops_team(db)
    headers = token_for(db, lead, scopes=["read"])
    db.commit()
    assert client.post("/api/v1/offerings", headers=headers, json=_ready(team)).status_code == 403


def test_plugin_dry_run_runs_the_echo_plugin_with_sample_inputs(
    client: TestClient, db: Session
) -> None:
    team, lead, _ = _ops_team(db)
    headers = token_for(db, lead)
    db.commit()
    body = _ready(
        team, fulfilment={"kind": "plugin", "plugin": "echo", "settings": {"message": "Hi"}}
    )
    client.post("/api/v1/offerings", headers=headers, json=body)
    result = client.post(f"/api/v1/offerings/{body['slug']}/test-fulfilment", headers=headers)
    assert result.json()["passed"] is True
    assert "echo" in result.json()["message"]
    event = db.scalars(select(Event).where(Event.type == "offering.dry_run")).one()
    assert event.data["passed"] is True and event.data["version"] == 1
    db.rollback()


def test_version_diff_shows_what_changed_between_versions(client: TestClient, db: Session) -> None:
    team, lead, _ = _ops_team(db)
    offering = make_offering(db, team, lead, name="Database", cost=10)
    headers = token_for(db, lead)
    db.commit()
    body = _ready(team, slug=offering.slug, name="Database", cost=25)
    client.put(f"/api/v1/offerings/{offering.slug}", headers=headers, json=body)
    lines = client.get(
        f"/api/v1/offerings/{offering.slug}/diff",
        headers=headers,
        params={"older": 1, "newer": 2},
    ).json()
    assert "-cost: 10.0" in lines and "+cost: 25.0" in lines
    assert not any(line.startswith(("+name", "-name")) for line in lines)


def test_strangers_may_not_publish_deprecate_or_retire(client: TestClient, db: Session) -> None:
    team, lead, _ = _ops_team(db)
    stranger_lead = make_user(db, team=make_team(db), role=Role.LEAD)
    live = make_offering(db, team, lead)
    headers = token_for(db, stranger_lead)
    db.commit()
    for action in ("publish", "deprecate", "retire"):
        answer = client.post(f"/api/v1/offerings/{live.slug}/{action}", headers=headers)
        assert answer.status_code == 403, action
    assert client.get(f"/api/v1/offerings/{live.slug}", headers=headers).json()["status"] == (
        "published"
    )


def test_only_the_owner_team_and_admins_read_an_offerings_fulfilment_settings(
    client: TestClient, db: Session
) -> None:
    team, lead, member = _ops_team(db)
    consumer = make_user(db, team=make_team(db))
    admin = make_user(db, admin=True)
    hook_url = "https://hooks.internal.example.com/provision"
    definition = _ready(
        team, fulfilment={"kind": "webhook", "url": hook_url}, webhook_secret=SECRET
    )
    offering = make_offering(db, team, lead, **definition)
    tokens = {user.id: token_for(db, user, ["read"]) for user in (member, admin, consumer)}
    db.commit()

    def seen_by(user: User) -> tuple[str, str]:
        headers = tokens[user.id]
        one = client.get(f"/api/v1/offerings/{offering.slug}", headers=headers)
        listed = client.get("/api/v1/offerings", headers=headers)
        assert one.status_code == listed.status_code == 200, one.text
        return one.text, listed.text

    for reader in (member, admin):
        one, listed = seen_by(reader)
        assert hook_url in one and hook_url in listed
    one, listed = seen_by(consumer)
    assert hook_url not in one and hook_url not in listed
    answer = client.get(f"/api/v1/offerings/{offering.slug}", headers=tokens[consumer.id])
    assert answer.json()["fulfilment"] == {"kind": "webhook"}
    assert answer.json()["signing_secret_set"] is None
