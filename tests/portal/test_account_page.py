"""The account page: create a token (shown once), revoke it."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import PASSWORD, make_user


def _sign_in(client: TestClient, username: str) -> str:
    client.get("/login")
    token = client.cookies["sb_csrf"]
    client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    return client.cookies["sb_csrf"]  # signing in renews the token


def test_token_created_on_the_account_page_is_shown_once_and_revocable(
    client: TestClient, db: Session
) -> None:
    make_user(db, "casey")
    db.commit()
    csrf = _sign_in(client, "casey")
    page = client.post(
        "/account/tokens",
        data={"name": "deploy", "scopes": ["read"], "expires_in_days": "30", "csrf_token": csrf},
    )
    assert page.status_code == 200
    value = re.search(r'id="issued-token">(sb_[^<]+)<', page.text).group(1)
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {value}"}).status_code == 200
    again = client.get("/account")
    assert value not in again.text and "deploy" in again.text

    token_id = client.get("/api/v1/tokens", headers={"Authorization": f"Bearer {value}"}).json()[0][
        "id"
    ]
    client.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": csrf})
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {value}"}).status_code == 401
    assert "revoked" in client.get("/account").text


def test_token_without_a_name_is_refused_with_a_message(client: TestClient, db: Session) -> None:
    make_user(db, "casey")
    db.commit()
    csrf = _sign_in(client, "casey")
    page = client.post("/account/tokens", data={"name": " ", "csrf_token": csrf})
    assert page.status_code == 422
    assert "Give the token a name" in page.text


def test_consumers_are_not_offered_the_admin_scope(client: TestClient, db: Session) -> None:
    make_user(db, "casey")
    db.commit()
    _sign_in(client, "casey")
    assert 'value="admin"' not in client.get("/account").text
