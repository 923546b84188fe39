"""Search and browse: ranked, filtered, paginated, visible only where allowed, recorded."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from servicebay.core.events import Event
from servicebay.core.identity import Role
from tests.factories import make_offering, make_team, make_user, token_for
from tests.test_walking_skeleton import _sign_in


def _catalog(db: Session) -> dict[str, str]:
    platform = make_team(db, "platform")
    security = make_team(db, "security")
    pat = make_user(db, team=platform, role=Role.LEAD)
    sam = make_user(db, team=security, role=Role.LEAD)
    make_offering(
        db,
        platform,
        pat,
        slug="postgres",
        name="PostgreSQL database",
        category="Data",
        tags=["database", "storage"],
        summary="Managed relational database",
    )
    make_offering(
        db,
        platform,
        pat,
        slug="bucket",
        name="Object storage bucket",
        category="Data",
        tags=["storage"],
        summary="S3-compatible bucket; not a database",
    )
    make_offering(
        db,
        security,
        sam,
        slug="vpn",
        name="VPN access",
        category="Access",
        tags=["network"],
        summary="Remote access to the office network",
    )
    make_offering(db, security, sam, slug="draft-thing", name="Database audit", publish=False)
    consumer = make_user(db, "casey", team=make_team(db, "payments"))
    headers = token_for(db, consumer)
    db.commit()
    return headers


def _slugs(answer: dict) -> list[str]:
    return [item["slug"] for item in answer["items"]]


def test_search_ranks_name_matches_above_summary_matches(client: TestClient, db: Session) -> None:
    headers = _catalog(db)
    found = client.get("/api/v1/offerings", headers=headers, params={"q": "database"}).json()
    assert _slugs(found) == ["postgres", "bucket"]
    assert found["total"] == 2


def test_search_matches_word_prefixes_and_every_word(client: TestClient, db: Session) -> None:
    headers = _catalog(db)
    assert _slugs(
        client.get("/api/v1/offerings", headers=headers, params={"q": "postg"}).json()
    ) == ["postgres"]
    assert _slugs(
        client.get("/api/v1/offerings", headers=headers, params={"q": "storage bucket"}).json()
    ) == ["bucket"]
    assert (
        client.get("/api/v1/offerings", headers=headers, params={"q": "kubernetes"}).json()["total"]
        == 0
    )


def test_filters_by_category_team_and_tag(client: TestClient, db: Session) -> None:
    headers = _catalog(db)

    def slugs(**params: str) -> list[str]:
        return sorted(
            _slugs(client.get("/api/v1/offerings", headers=headers, params=params).json())
        )

    assert slugs(category="Data") == ["bucket", "postgres"]
    assert slugs(team="security") == ["vpn"]
    assert slugs(tag="storage") == ["bucket", "postgres"]
    assert slugs(tag="database") == ["postgres"]
    assert slugs(q="access", category="Data") == []


def test_browse_is_paginated(client: TestClient, db: Session) -> None:
    headers = _catalog(db)
    first = client.get("/api/v1/offerings", headers=headers, params={"per_page": 2}).json()
    second = client.get(
        "/api/v1/offerings", headers=headers, params={"per_page": 2, "page": 2}
    ).json()
    assert first["total"] == second["total"] == 3
    assert len(first["items"]) == 2 and len(second["items"]) == 1
    assert set(_slugs(first)).isdisjoint(_slugs(second))


def test_every_search_is_recorded_with_its_result_count(client: TestClient, db: Session) -> None:
    headers = _catalog(db)
    client.get("/api/v1/offerings", headers=headers, params={"q": "database"})
    client.get("/api/v1/offerings", headers=headers, params={"q": "kubernetes"})
    client.get("/", params={"q": "vpn"}, cookies=_sign_in(client, "casey"))
    recorded = [
        (e.data["query"], e.data["results"])
        for e in db.scalars(
            select(Event).where(Event.type == "catalog.searched").order_by(Event.id)
        )
    ]
    db.rollback()
    assert recorded == [("database", 2), ("kubernetes", 0), ("vpn", 1)]


def test_portal_home_filters_paginates_and_marks_deprecated(
    client: TestClient, db: Session
) -> None:
    headers = _catalog(db)
    del headers
    cookies = _sign_in(client, "casey")
    page = client.get("/", params={"category": "Data"}, cookies=cookies)
    assert "PostgreSQL database" in page.text and "VPN access" not in page.text
    assert "Database audit" not in client.get("/", params={"q": "database"}, cookies=cookies).text
    fragment = client.get("/", params={"q": "vpn"}, cookies=cookies, headers={"HX-Request": "true"})
    assert fragment.text.lstrip().startswith('<div id="finds"')
    assert 'id="results"' in fragment.text and "Popular this month" not in fragment.text


def test_schema_endpoint_gives_the_form_as_json_schema(client: TestClient, db: Session) -> None:
    headers = _catalog(db)
    schema = client.get("/api/v1/offerings/postgres/schema", headers=headers).json()
    assert schema["required"] == ["name", "size"]
    assert schema["properties"]["size"]["enum"] == ["small", "large"]
