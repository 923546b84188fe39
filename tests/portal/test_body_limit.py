"""Every request body is limited in size: counted as it arrives, refused with 413."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from servicebay.catalog.demand import Demand
from servicebay.core.settings import Settings
from servicebay.portal.app import create_app
from servicebay.portal.security import CSRF_COOKIE, CSRF_FIELD
from tests.factories import PASSWORD, make_user, token_for

FIFTY_MB = 50 * 1024 * 1024


def _sign_in(client: TestClient, username: str) -> str:
    client.get("/login")
    client.post(
        "/login",
        data={"username": username, "password": PASSWORD, CSRF_FIELD: client.cookies[CSRF_COOKIE]},
    )
    return client.cookies[CSRF_COOKIE]


def test_a_50_mb_demand_description_is_refused_and_the_demand_page_stays_small(
    client: TestClient, db: Session
) -> None:
    make_user(db, "casey")
    db.commit()
    csrf = _sign_in(client, "casey")
    form = {"title": "Big", "description": "x" * FIFTY_MB, "urgency": "normal", CSRF_FIELD: csrf}
    refused = client.post("/demand", data=form)
    assert refused.status_code == 413
    assert refused.headers["content-type"].startswith("text/html")
    assert "The request is larger than the 5 MB this portal accepts" in refused.text
    page = client.get("/demand")
    assert page.status_code == 200
    assert len(page.content) < 200_000
    assert db.scalar(select(func.count(Demand.id))) == 0


def test_a_body_without_content_length_is_counted_as_it_arrives(
    settings: Settings, sessions, db: Session
) -> None:
    headers = token_for(db, make_user(db, "casey"))
    db.commit()

    def chunks() -> Iterator[bytes]:
        yield b'{"title": "A queue", "description": "'
        for _ in range(20):
            yield b"y" * 100
        yield b'"}'

    small = settings.model_copy(update={"max_body_bytes": 1000})
    with TestClient(create_app(small)) as client:
        refused = client.post("/api/v1/demands", headers=headers, content=chunks())
        accepted = client.post("/api/v1/demands", headers=headers, json={"title": "A queue"})
    assert refused.status_code == 413
    assert refused.json() == {
        "detail": "the request is larger than the 1000 bytes this portal accepts; send less"
    }
    assert accepted.status_code == 201
    assert db.scalar(select(func.count(Demand.id))) == 1


def test_a_content_length_over_the_limit_is_refused_before_the_body_is_read(
    settings: Settings, sessions, db: Session
) -> None:
    headers = token_for(db, make_user(db, "casey"))
    db.commit()
    small = settings.model_copy(update={"max_body_bytes": 1000})
    with TestClient(create_app(small)) as client:
        refused = client.post(
            "/api/v1/demands",
            headers={**headers, "Content-Type": "application/json"},
            content=b'{"title": "' + b"z" * 2000 + b'"}',
        )
    assert refused.status_code == 413
    assert db.scalar(select(func.count(Demand.id))) == 0
