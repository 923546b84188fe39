"""Browser sign-in and sign-out with a server-side session."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import PASSWORD, make_user


def _csrf(client: TestClient) -> str:
    client.get("/login")
    return client.cookies["sb_csrf"]


def test_wrong_password_shows_the_login_page_with_a_neutral_error(
    client: TestClient, db: Session
) -> None:
    make_user(db, "casey")
    db.commit()
    token = _csrf(client)
    wrong_password = client.post(
        "/login", data={"username": "casey", "password": "nope-nope", "csrf_token": token}
    )
    unknown_user = client.post(
        "/login", data={"username": "nobody", "password": PASSWORD, "csrf_token": token}
    )
    for response in (wrong_password, unknown_user):
        assert response.status_code == 401
        assert "Wrong username or password." in response.text
        assert "<form" in response.text
    assert "sb_session" not in client.cookies


def test_sign_in_then_pages_then_sign_out_ends_the_session(client: TestClient, db: Session) -> None:
    make_user(db, "casey")
    db.commit()
    assert client.get("/", follow_redirects=False).headers["location"] == "/login?next=/"
    token = _csrf(client)
    signed_in = client.post(
        "/login",
        data={"username": "casey", "password": PASSWORD, "csrf_token": token, "next": "/requests"},
        follow_redirects=False,
    )
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/requests"
    cookie = signed_in.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    key = client.cookies["sb_session"]
    assert client.get("/requests").status_code == 200

    renewed = client.cookies["sb_csrf"]
    assert renewed != token  # sign-in gave the browser a new token
    client.post("/logout", data={"csrf_token": renewed})
    client.cookies.set("sb_session", key)  # replaying the old cookie must not work
    assert client.get("/requests", follow_redirects=False).status_code == 303


def test_sign_in_without_csrf_token_is_refused(client: TestClient, db: Session) -> None:
    make_user(db, "casey")
    db.commit()
    _csrf(client)
    response = client.post("/login", data={"username": "casey", "password": PASSWORD})
    assert response.status_code == 403
    assert "sb_session" not in client.cookies


def test_next_parameter_never_leaves_the_site(client: TestClient, db: Session) -> None:
    make_user(db, "casey")
    db.commit()
    token = _csrf(client)
    response = client.post(
        "/login",
        data={
            "username": "casey",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "//evil.example.com/",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"
