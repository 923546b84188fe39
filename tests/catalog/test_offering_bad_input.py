"""Bad offering definitions: a clear 4xx naming the place, and nothing written."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from servicebay.catalog.models import Offering
from servicebay.core.identity import Role
from tests.factories import make_team, make_user, offering_definition, token_for


def _text_field(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "label": name.title(), **extra}


BAD_DEFINITIONS: list[tuple[str, dict[str, Any], str]] = [
    ("unknown field type", {"form": {"fields": [_text_field("a", type="colour")]}}, "form"),
    ("slug with illegal characters", {"slug": "Bad Slug!"}, "slug"),
    ("invalid regex", {"form": {"fields": [_text_field("a", pattern="[a-")]}}, "form"),
    (
        "show_if naming a missing field",
        {"form": {"fields": [_text_field("a", show_if={"field": "ghost", "equals": 1})]}},
        "ghost",
    ),
    (
        "approval condition naming a missing field",
        {
            "approval_policy": {
                "steps": [{"name": "Budget", "decider": "owner_leads", "condition": "cost > 5"}]
            }
        },
        "cost",
    ),
    (
        "approval condition that does not parse",
        {
            "approval_policy": {
                "steps": [{"name": "Budget", "decider": "owner_leads", "condition": "size >"}]
            }
        },
        "Budget",
    ),
    ("select without options", {"form": {"fields": [_text_field("a", type="select")]}}, "options"),
    (
        "webhook URL with another scheme",
        {"fulfilment": {"kind": "webhook", "url": "ftp://example.com/hook"}},
        "fulfilment",
    ),
    ("negative quota", {"quota": {"count": -1, "period_days": 7}}, "quota"),
    ("SLE above 100 %", {"sle": {"percent": 120, "within_hours": 4}}, "sle"),
    ("SLE below 1 %", {"sle": {"percent": 0, "within_hours": 4}}, "sle"),
    ("unknown plugin", {"fulfilment": {"kind": "plugin", "plugin": "nope"}}, "fulfilment"),
    (
        "plugin settings its model refuses",
        {"fulfilment": {"kind": "plugin", "plugin": "echo", "settings": {"colour": "red"}}},
        "colour",
    ),
    (
        "approval by a team that does not exist",
        {"approval_policy": {"steps": [{"name": "Sec", "decider": "team", "team": "ghosts"}]}},
        "ghosts",
    ),
]


@pytest.mark.parametrize(
    ("definition", "place"),
    [(d, p) for _, d, p in BAD_DEFINITIONS],
    ids=[name for name, _, _ in BAD_DEFINITIONS],
)
def test_bad_definition_is_refused_with_its_place_and_nothing_written(
    client: TestClient, db: Session, definition: dict[str, Any], place: str
) -> None:
    team = make_team(db)
    headers = token_for(db, make_user(db, team=team, role=Role.LEAD))
    db.commit()
    answer = client.post(
        "/api/v1/offerings", headers=headers, json=offering_definition(team, **definition)
    )
    assert answer.status_code == 422, answer.text
    assert place in answer.text
    assert db.scalar(select(func.count()).select_from(Offering)) == 0
    db.rollback()


def test_duplicate_slug_is_a_conflict(client: TestClient, db: Session) -> None:
    team = make_team(db)
    headers = token_for(db, make_user(db, team=team, role=Role.LEAD))
    db.commit()
    body = offering_definition(team)
    assert client.post("/api/v1/offerings", headers=headers, json=body).status_code == 201
    again = client.post("/api/v1/offerings", headers=headers, json=body)
    assert again.status_code == 409
    assert body["slug"] in again.json()["detail"]


def test_script_in_description_is_stored_but_rendered_inert(
    client: TestClient, db: Session
) -> None:
    team = make_team(db)
    lead = make_user(db, "lena", team=team, role=Role.LEAD)
    headers = token_for(db, lead)
    db.commit()
    description = "Hello <script>alert('x')</script> **world**"
    body = offering_definition(team, description=description)
    created = client.post("/api/v1/offerings", headers=headers, json=body)
    assert created.json()["description"] == description
    client.cookies.clear()
    csrf = client.get("/login").cookies.get("sb_csrf") or client.cookies.get("sb_csrf")
    client.post(
        "/login",
        data={"username": "lena", "password": "correct-horse-battery", "csrf_token": csrf},
    )
    page = client.get(f"/offerings/{body['slug']}")
    assert page.status_code == 200
    assert "<script>alert" not in page.text
    assert "<strong>world</strong>" in page.text


RAW_VALIDATOR_WORDS = ("String should", "Input should", "Value error", "Extra inputs", "^[a-z")


def test_offering_problems_in_the_api_are_sentences_naming_each_field(
    client: TestClient, db: Session
) -> None:
    team = make_team(db)
    headers = token_for(db, make_user(db, team=team, role=Role.LEAD))
    db.commit()
    body = offering_definition(
        team, slug="Bad Slug!", name="", summary="x" * 501, runbook_url="ftp://x", cost=-1
    )
    answer = client.post("/api/v1/offerings", headers=headers, json=body)

    assert answer.status_code == 422
    problems = {item["field"]: item["message"] for item in answer.json()["detail"]}
    assert set(problems) == {"slug", "name", "summary", "runbook_url", "cost"}
    assert "may only have lowercase letters, digits and dashes" in problems["slug"]
    assert problems["name"] == "Name cannot be empty."
    assert problems["summary"] == "Summary may have at most 500 characters."
    assert problems["cost"] == "Cost must be at least 0."
    assert not any(raw in answer.text for raw in RAW_VALIDATOR_WORDS)
