"""Every text a caller sends has a maximum length: in the schema, in the form, on the server."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy.orm import Session

from servicebay.catalog import demand as demand_service
from servicebay.catalog.demand import InvalidDemand
from servicebay.catalog.errors import InputsInvalid
from servicebay.catalog.forms import json_schema, validate_inputs
from servicebay.catalog.schemas import OfferingIn, RequestForm
from servicebay.core.identity import Role
from tests.factories import make_team, make_user, offering_definition, token_for

TEMPLATES = Path(__file__).parents[2] / "templates"


def _definition(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"slug": "x", "name": "X", "owner_team": "it"}
    base["fulfilment"] = {"kind": "manual"}
    return base | overrides


def _field(**overrides: Any) -> dict[str, Any]:
    return {"form": {"fields": [{"name": "f", "label": "F"} | overrides]}}


@pytest.mark.parametrize(
    ("overrides", "at_limit"),
    [
        ({"name": "n" * 201}, {"name": "n" * 200}),
        ({"summary": "s" * 501}, {"summary": "s" * 500}),
        ({"description": "d" * 10_001}, {"description": "d" * 10_000}),
        ({"contact": "c" * 201}, {"contact": "c" * 200}),
        ({"owner_team": "t" * 65}, {"owner_team": "t" * 64}),
        ({"runbook_url": "https://x.example/" + "p" * 2000}, {"runbook_url": "https://x.example/"}),
        ({"tags": ["t" * 51]}, {"tags": ["t" * 50]}),
        ({"tags": ["t"] * 51}, {"tags": ["t"] * 50}),
        (_field(help="h" * 2001), _field(help="h" * 2000)),
        (_field(placeholder="p" * 201), _field(placeholder="p" * 200)),
        (_field(type="select", options=["o" * 201]), _field(type="select", options=["o" * 200])),
        (_field(pattern="a" * 501), _field(pattern="a" * 500)),
        (
            {"fulfilment": {"kind": "webhook", "url": "https://h.example/" + "p" * 2000}},
            {"fulfilment": {"kind": "webhook", "url": "https://h.example/p"}},
        ),
        (
            {"fulfilment": {"kind": "manual", "checklist": ["c" * 501]}},
            {"fulfilment": {"kind": "manual", "checklist": ["c" * 500]}},
        ),
        (
            {"approval_policy": {"steps": [{"name": "s", "decider": "team", "team": "t" * 65}]}},
            {"approval_policy": {"steps": [{"name": "s", "decider": "team", "team": "t" * 64}]}},
        ),
    ],
)
def test_offering_definition_text_is_refused_past_its_maximum_length(
    overrides: dict[str, Any], at_limit: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError, match="at most"):
        OfferingIn.model_validate(_definition(**overrides))
    OfferingIn.model_validate(_definition(**at_limit))


def test_request_form_text_fields_without_a_maximum_get_one_by_type() -> None:
    form = RequestForm.model_validate(
        {
            "fields": [
                {"name": "line", "label": "Line"},
                {"name": "story", "label": "Story", "type": "textarea"},
                {"name": "mail", "label": "Mail", "type": "email"},
                {"name": "own", "label": "Own", "max_length": 20},
            ]
        }
    )
    assert [f.length_limit for f in form.fields] == [1000, 10_000, 254, 20]
    properties = json_schema(form, title="Limits")["properties"]
    assert [properties[name]["maxLength"] for name in ("line", "story", "mail", "own")] == [
        1000,
        10_000,
        254,
        20,
    ]
    with pytest.raises(InputsInvalid) as refused:
        validate_inputs(form, {"line": "l" * 1001, "story": "s" * 10_001, "own": "o" * 21})
    assert refused.value.problems == {
        "line": "must have at most 1000 characters",
        "story": "must have at most 10000 characters",
        "own": "must have at most 20 characters",
    }
    assert validate_inputs(form, {"line": "l" * 1000})["line"] == "l" * 1000


def test_every_string_in_an_api_request_body_has_a_maximum_length(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    unbounded: list[str] = []

    def visit(schema: dict[str, Any], where: str, seen: frozenset[str]) -> None:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            if name not in seen:
                visit(schemas[name], name, seen | {name})
            return
        for key in ("anyOf", "oneOf", "allOf"):
            for option in schema.get(key, []):
                visit(option, where, seen)
        if schema.get("type") == "string" and not (
            "maxLength" in schema or "enum" in schema or "const" in schema or "format" in schema
        ):
            unbounded.append(where)
        for name, value in schema.get("properties", {}).items():
            visit(value, f"{where}.{name}", seen)
        if isinstance(schema.get("items"), dict):
            visit(schema["items"], f"{where}[]", seen)
        if isinstance(schema.get("additionalProperties"), dict):
            visit(schema["additionalProperties"], f"{where}{{}}", seen)
        if isinstance(schema.get("propertyNames"), dict):
            visit(schema["propertyNames"], f"{where}{{key}}", seen)

    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody", {}).get("content", {})
            for content in body.values():
                visit(content["schema"], f"{method.upper()} {path}", frozenset())
    assert unbounded == [], "\n".join(unbounded)


def test_every_text_box_of_every_page_has_a_maxlength() -> None:
    boxes = re.compile(r"<(?:input|textarea)\b[^>]*>", re.S)
    not_text = re.compile(r'type="(?:hidden|checkbox|radio|submit|number|date)"|\bdisabled\b')
    missing = [
        f"{path.relative_to(TEMPLATES)}: {box[:80]}"
        for path in sorted(TEMPLATES.rglob("*.html"))
        for box in boxes.findall(path.read_text())
        if not not_text.search(box) and "maxlength=" not in box
    ]
    assert missing == []


def test_demand_texts_are_bounded_in_the_context_and_the_api(
    client: TestClient, db: Session
) -> None:
    team = make_team(db)
    lead = make_user(db, team=team, role=Role.LEAD)
    with pytest.raises(InvalidDemand) as refused:
        demand_service.create(db, actor=lead, title="Redis", description="d" * 10_001)
    assert refused.value.problems == {"description": "at most 10000 characters"}
    headers = token_for(db, lead)
    db.commit()
    answer = client.post(
        "/api/v1/demands", headers=headers, json={"title": "Redis", "description": "d" * 10_001}
    )
    assert answer.status_code == 422
    created = client.post("/api/v1/demands", headers=headers, json={"title": "Redis"})
    assert created.status_code == 201, created.text
    number = created.json()["id"]
    decline = client.post(
        f"/api/v1/demands/{number}/triage",
        headers=headers,
        json={"state": "declined", "reason": "r" * 2001},
    )
    assert decline.status_code == 422


def test_the_api_refuses_an_offering_whose_description_is_too_long(
    client: TestClient, db: Session
) -> None:
    team = make_team(db)
    headers = token_for(db, make_user(db, team=team, role=Role.LEAD))
    db.commit()
    body = offering_definition(team, description="d" * 10_001)
    answer = client.post("/api/v1/offerings", headers=headers, json=body)
    assert answer.status_code == 422
    assert "description" in answer.text
