"""Sign-in resists guessing: lockout, rate limits; trusted proxy headers only from proxies."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from servicebay.core import clock, identity
from servicebay.core.settings import Settings
from servicebay.portal.app import create_app
from tests.factories import PASSWORD, make_team, make_user, token_for


def _try(client: TestClient, username: str, password: str):  # type: ignore[no-untyped-def]
    client.get("/login")
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": client.cookies["sb_csrf"]},
        follow_redirects=False,
    )


def test_account_locks_after_five_failures_then_recovers(client: TestClient, db: Session) -> None:
    make_user(db, "casey")
    db.commit()
    for _ in range(5):
        assert _try(client, "casey", "wrong-password").status_code == 401
    locked = _try(client, "casey", PASSWORD)
    assert locked.status_code == 401
    assert "Wrong username or password." in locked.text
    clock.advance(timedelta(minutes=16))
    assert _try(client, "casey", PASSWORD).status_code == 303


def test_too_many_sign_in_attempts_answer_429_with_retry_after(
    settings: Settings, sessions, db: Session
) -> None:
    make_user(db, "casey")
    db.commit()
    limited = settings.model_copy(update={"rate_limit_login": 3})
    with TestClient(create_app(limited)) as client:
        answers = [_try(client, f"nobody{i}", "whatever-pw") for i in range(4)]
    assert [a.status_code for a in answers] == [401, 401, 401, 429]
    assert 1 <= int(answers[-1].headers["retry-after"]) <= 60
    assert "Too many sign-in attempts" in answers[-1].text


def test_submissions_are_rate_limited_per_user(settings: Settings, sessions, db: Session) -> None:
    headers = token_for(db, make_user(db))
    db.commit()
    limited = settings.model_copy(update={"rate_limit_submit": 2})
    with TestClient(create_app(limited)) as client:
        codes = [
            client.post(
                "/api/v1/requests", headers=headers, json={"offering": "none", "inputs": {}}
            ).status_code
            for _ in range(3)
        ]
    assert codes == [404, 404, 429]


def _proxy_app(settings: Settings, **changes: object) -> TestClient:
    update = {
        "proxy_auth": True,
        "trusted_proxies": ["10.1.2.3/32"],
        "proxy_groups_header": "X-Forwarded-Groups",
        **changes,
    }
    return TestClient(create_app(settings.model_copy(update=update)), client=("10.1.2.3", 5000))


def test_proxy_headers_sign_in_and_create_the_user_with_team_membership(
    settings: Settings, sessions, db: Session
) -> None:
    make_team(db, "payments")
    db.commit()
    with _proxy_app(settings) as client:
        page = client.get(
            "/requests",
            headers={
                "X-Forwarded-User": "robin",
                "X-Forwarded-Email": "robin@example.com",
                "X-Forwarded-Groups": "payments,unknown-group",
            },
        )
    assert page.status_code == 200
    assert "robin" in page.text
    robin = identity.get_user(db, username="robin")
    assert robin.email == "robin@example.com"
    assert [m.team.slug for m in robin.memberships] == ["payments"]


def test_proxy_headers_from_other_addresses_are_ignored(
    settings: Settings, sessions, db: Session
) -> None:
    with _proxy_app(settings, trusted_proxies=["10.9.9.9/32"]) as client:
        page = client.get(
            "/requests", headers={"X-Forwarded-User": "mallory"}, follow_redirects=False
        )
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login")


def test_proxy_headers_are_ignored_when_proxy_sign_in_is_off(client: TestClient) -> None:
    page = client.get("/requests", headers={"X-Forwarded-User": "mallory"}, follow_redirects=False)
    assert page.status_code == 303
