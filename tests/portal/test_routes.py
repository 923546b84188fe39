"""The route table as a whole: names that build links, CSRF on every HTML form."""

from __future__ import annotations

import re
from collections import Counter

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import PASSWORD, make_user

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def html_routes(app: FastAPI) -> list[APIRoute]:
    return [r for r in app.routes if isinstance(r, APIRoute) and not r.path.startswith("/api/")]


def test_route_names_are_unique_so_links_go_where_they_should(app: FastAPI) -> None:
    names = Counter(r.name for r in app.routes if isinstance(r, APIRoute))
    assert [name for name, count in names.items() if count > 1] == []


def test_every_html_form_without_its_csrf_token_is_refused(
    app: FastAPI, client: TestClient, db: Session
) -> None:
    make_user(db, "casey")
    db.commit()
    client.get("/login")
    token = client.cookies["sb_csrf"]
    client.post("/login", data={"username": "casey", "password": PASSWORD, "csrf_token": token})
    assert "sb_session" in client.cookies
    targets = [
        (method, re.sub(r"\{[^}]+\}", "1", route.path))
        for route in html_routes(app)
        for method in sorted(route.methods & UNSAFE)
    ]
    assert len(targets) >= 5
    for method, path in targets:
        answer = client.request(method, path, data={"anything": "1"})
        assert answer.status_code == 403, (method, path, answer.status_code)
