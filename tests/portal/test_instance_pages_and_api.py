"""Instances through the pages (without JavaScript) and the JSON API: lists, the instance
page with its prefilled operation forms, running an operation, and refusals."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from servicebay.core.identity import Role, User
from servicebay.requests import service, tasks
from servicebay.requests.models import Instance, Request
from tests.factories import make_offering, make_team, make_user, sign_in, token_for

MANUAL = {"kind": "manual", "checklist": ["Do it"]}
SIZE = {"name": "size", "label": "Size", "type": "select", "options": ["small", "large"]}


def world(db: Session) -> tuple[Instance, User, User, User]:
    """An active instance made by hand by the ops lead: it, its owner, the lead, a stranger."""
    ops = make_team(db, "platform")
    lead = make_user(db, "pat", team=ops, role=Role.LEAD)
    operations = [
        {"name": "resize", "form": {"fields": [{**SIZE, "required": True}]}, "fulfilment": MANUAL},
        {"name": "decommission", "label": "Decommission", "retires": True, "fulfilment": MANUAL},
    ]
    make_offering(
        db,
        ops,
        lead,
        slug="databases",
        fulfilment=MANUAL,
        instances={"name_field": "name", "operations": operations},
    )
    owner = make_user(db, "casey", team=make_team(db, "payments"))
    stranger = make_user(db, "sam", team=make_team(db, "sales"))
    made = service.submit(
        db, actor=owner, offering_slug="databases", inputs={"name": "ledger", "size": "small"}
    )
    finish(db, lead, made)
    db.commit()
    instance = db.get_one(Instance, made.instance_id)
    db.commit()  # ends the read: SQLite lets one transaction write at a time
    return instance, owner, lead, stranger


def finish(db: Session, lead: User, request: Request) -> None:
    db.flush()
    board = tasks.board(db, team_id=lead.team_ids[0])
    (task,) = [t for t in board["todo"] if t.request_id == request.id]
    tasks.advance(db, actor=lead, task_id=task.id)
    tasks.advance(db, actor=lead, task_id=task.id, outputs={"host": "db-1.internal"})


def count_requests(db: Session) -> int:
    count = int(db.scalar(select(func.count(Request.id))) or 0)
    db.commit()
    return count


def test_my_instances_lists_it_and_its_page_offers_the_operations_prefilled_from_the_spec(
    client: TestClient, db: Session
) -> None:
    instance, _, _, _ = world(db)
    sign_in(client, "casey")
    listed = client.get("/instances")
    assert listed.status_code == 200
    assert "ledger" in listed.text and f"/instances/{instance.id}" in listed.text
    assert '/instances">My instances</a>' in client.get("/").text  # the tab, now that there is one

    page = client.get(f"/instances/{instance.id}")
    assert page.status_code == 200
    assert "db-1.internal" in page.text
    assert f'/instances/{instance.id}/operations/resize"' in page.text
    assert '<option value="small" selected>small</option>' in page.text  # from the spec
    assert "Instance active" in page.text  # the timeline


def test_resize_from_the_page_is_a_request_on_the_instance_whose_completion_changes_the_spec(
    client: TestClient, db: Session
) -> None:
    instance, _, lead, _ = world(db)
    csrf = sign_in(client, "casey")
    ran = client.post(
        f"/instances/{instance.id}/operations/resize",
        data={"csrf_token": csrf, "size": "large"},
        follow_redirects=False,
    )
    assert ran.status_code == 303, ran.text
    request_id = int(ran.headers["location"].rsplit("/", 1)[1])
    shown = client.get(ran.headers["location"])
    assert "Operation <strong>resize</strong> on" in shown.text
    db.expire_all()
    assert db.get_one(Instance, instance.id).state == "updating"
    db.commit()
    finish(db, lead, db.get_one(Request, request_id))
    db.commit()
    db.expire_all()
    assert db.get_one(Instance, instance.id).spec["size"] == "large"


def test_a_second_operation_from_the_page_is_refused_with_409_and_the_reason(
    client: TestClient, db: Session
) -> None:
    instance, owner, _, _ = world(db)
    service.run_operation(
        db, actor=owner, instance_id=instance.id, operation="resize", inputs={"size": "large"}
    )
    db.commit()
    before = count_requests(db)
    csrf = sign_in(client, "casey")
    refused = client.post(
        f"/instances/{instance.id}/operations/decommission", data={"csrf_token": csrf}
    )
    assert refused.status_code == 409
    assert "is still open on this instance; one operation runs at a time" in refused.text
    assert count_requests(db) == before


def test_inputs_the_form_refuses_rerender_the_operation_with_422(
    client: TestClient, db: Session
) -> None:
    instance, _, _, _ = world(db)
    before = count_requests(db)
    csrf = sign_in(client, "casey")
    refused = client.post(
        f"/instances/{instance.id}/operations/resize", data={"csrf_token": csrf, "size": "huge"}
    )
    assert refused.status_code == 422
    assert 'id="operation-resize" open' in refused.text
    assert count_requests(db) == before


def test_someone_elses_instance_is_not_found_on_the_page_and_in_the_api(
    client: TestClient, db: Session
) -> None:
    instance, _, _, stranger = world(db)
    sign_in(client, "sam")
    assert client.get(f"/instances/{instance.id}").status_code == 404
    assert "ledger" not in client.get("/instances/team").text
    client.cookies.clear()
    headers = token_for(db, stranger)
    db.commit()
    assert client.get(f"/api/v1/instances/{instance.id}", headers=headers).status_code == 404
    ran = client.post(
        f"/api/v1/instances/{instance.id}/operations/resize", headers=headers, json={}
    )
    assert ran.status_code == 404
    db.expire_all()
    assert db.get_one(Instance, instance.id).busy_request_id is None
    db.commit()


def test_the_api_lists_shows_and_runs_an_operation_once_per_idempotency_key(
    client: TestClient, db: Session
) -> None:
    instance, owner, _, _ = world(db)
    headers = token_for(db, owner)
    db.commit()
    listed = client.get("/api/v1/instances", headers=headers).json()
    assert [i["name"] for i in listed] == ["ledger"]
    assert listed[0]["state"] == "active" and listed[0]["spec"]["size"] == "small"

    story = client.get(f"/api/v1/instances/{instance.id}", headers=headers).json()
    operations: dict[str, Any] = {op["name"]: op for op in story["operations"]}
    assert operations["resize"]["prefilled"] == {"size": "small"}
    assert operations["resize"]["allowed"] is True
    assert operations["decommission"]["retires"] is True
    assert "size" in operations["resize"]["form_schema"]["properties"]
    assert any(e["type"] == "instance.active" for e in story["timeline"])

    keyed = {**headers, "Idempotency-Key": "resize-1"}
    path = f"/api/v1/instances/{instance.id}/operations/resize"
    first = client.post(path, headers=keyed, json={"inputs": {"size": "large"}})
    assert first.status_code == 201, first.text
    assert first.json()["operation"] == "resize" and first.json()["instance_id"] == instance.id
    again = client.post(path, headers=keyed, json={"inputs": {"size": "large"}})
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]

    busy = client.post(
        f"/api/v1/instances/{instance.id}/operations/decommission", headers=headers, json={}
    )
    assert busy.status_code == 409
    assert f"request #{first.json()['id']} is still open" in busy.json()["detail"]
    unknown = client.post(
        f"/api/v1/instances/{instance.id}/operations/rotate", headers=headers, json={}
    )
    assert unknown.status_code == 404


def test_a_team_member_not_allowed_to_run_an_operation_is_told_who_may(
    client: TestClient, db: Session
) -> None:
    instance, owner, _, _ = world(db)
    colleague = make_user(db, "kim", team=owner.memberships[0].team)
    headers = token_for(db, colleague)
    db.commit()
    assert [
        i["id"] for i in client.get("/api/v1/instances?whose=team", headers=headers).json()
    ] == [instance.id]
    refused = client.post(
        f"/api/v1/instances/{instance.id}/operations/resize",
        headers=headers,
        json={"inputs": {"size": "large"}},
    )
    assert refused.status_code == 403
    assert "only owner, team leads, ops may run resize" in refused.json()["detail"]


def test_the_owner_extends_a_lease_from_the_page_and_the_api_says_why_it_cannot_again(
    client: TestClient, db: Session
) -> None:
    ops = make_team(db, "platform")
    lead = make_user(db, "pat", team=ops, role=Role.LEAD)
    lifetime = {"days": 10, "extend_days": 10, "max_days": 20}
    operations = [{"name": "decommission", "retires": True, "fulfilment": MANUAL}]
    make_offering(
        db,
        ops,
        lead,
        slug="namespaces",
        fulfilment=MANUAL,
        instances={"name_field": "name", "operations": operations, "lifetime": lifetime},
    )
    owner = make_user(db, "casey", team=make_team(db, "payments"))
    made = service.submit(
        db, actor=owner, offering_slug="namespaces", inputs={"name": "ledger", "size": "small"}
    )
    finish(db, lead, made)
    db.commit()
    instance = db.get_one(Instance, made.instance_id)
    db.commit()
    csrf = sign_in(client, "casey")
    page = client.get(f"/instances/{instance.id}")
    assert 'id="expires"' in page.text and "Extend the lease" in page.text
    extended = client.post(
        f"/instances/{instance.id}/extend", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert extended.status_code == 303
    client.cookies.clear()
    headers = token_for(db, owner)
    db.commit()
    again = client.post(f"/api/v1/instances/{instance.id}/extend", headers=headers)
    assert again.status_code == 409
    assert "at the latest its offering allows (20 days)" in again.json()["detail"]
    shown = client.get(f"/api/v1/instances/{instance.id}", headers=headers).json()
    assert shown["instance"]["expires_at"] is not None
