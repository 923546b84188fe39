"""Sign-in resists guessing: lockout, rate limits; trusted proxy headers only from proxies."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from servicebay.core import clock, identity
from servicebay.core.identity import User
from servicebay.core.settings import Settings, SettingsError, load_settings
from servicebay.portal.app import create_app
from tests.factories import PASSWORD, make_team, make_user, token_for
from tests.servers import free_port, serve_process

SERVICEBAY = Path(sys.executable).with_name("servicebay")


WINDOW_START = datetime(2026, 12, 1, 9, 0, 5, tzinfo=UTC)


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


def _attempts_from(client: httpx.Client, forwarded_for: list[str]) -> list[int]:
    """One failed sign-in per X-Forwarded-For value, each with another username."""
    codes = []
    for number, address in enumerate(forwarded_for):
        client.get("/login")
        answer = client.post(
            "/login",
            data={
                "username": f"nobody{number}",
                "password": "whatever-pw",
                "csrf_token": client.cookies["sb_csrf"],
            },
            headers={"X-Forwarded-For": address},
        )
        codes.append(answer.status_code)
    return codes


SPOOFED = ["198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4"]


def test_a_spoofed_x_forwarded_for_does_not_get_around_the_per_address_sign_in_limit(
    settings: Settings, sessions
) -> None:
    clock.freeze(WINDOW_START)  # all attempts in one rate-limit window
    limited = settings.model_copy(update={"rate_limit_login": 3})
    with TestClient(create_app(limited), client=("127.0.0.1", 5000)) as client:
        assert _attempts_from(client, SPOOFED) == [401, 401, 401, 429]


def test_x_forwarded_for_from_a_configured_proxy_names_the_caller_for_the_limit(
    settings: Settings, sessions
) -> None:
    clock.freeze(WINDOW_START)  # all attempts in one rate-limit window
    behind = settings.model_copy(update={"rate_limit_login": 2, "trusted_proxies": ["10.1.2.0/24"]})
    with TestClient(create_app(behind), client=("10.1.2.3", 5000)) as client:
        # The proxy appends the address it saw; whatever the client sent before is ignored.
        same_caller = [f"{spoofed}, 203.0.113.9" for spoofed in SPOOFED[:3]]
        assert _attempts_from(client, same_caller) == [401, 401, 429]
        assert _attempts_from(client, ["203.0.113.10"]) == [401]


@pytest.mark.slow
def test_serve_believes_no_forwarded_address_unless_told_which_proxies_to_trust(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "SERVICEBAY_DATA_DIR": str(tmp_path),
        "SERVICEBAY_BASE_URL": f"http://127.0.0.1:{port}",
        "SERVICEBAY_RATE_LIMIT_LOGIN": "3",
    }
    env.pop("SERVICEBAY_DATABASE_URL", None)
    command = [str(SERVICEBAY), "serve", "--port", str(port), "--no-worker"]
    with (
        serve_process(command, port=port, env=env, cwd=tmp_path) as url,
        httpx.Client(base_url=url) as client,
    ):
        codes = _attempts_from(client, SPOOFED)
    assert codes == [401, 401, 401, 429]


def test_proxy_sign_in_never_maps_different_names_to_one_account(
    settings: Settings, sessions, db: Session
) -> None:
    with _proxy_app(settings) as client:
        answers = {
            name: client.get("/requests", headers={"X-Forwarded-User": name})
            for name in ("bob+ops@example.com", "bob ops@example.com", "bob/ops@example.com")
        }
        long_name = "a" * 64 + "b@example.com"
        answers[long_name] = client.get("/requests", headers={"X-Forwarded-User": long_name})
        plain = client.get("/requests", headers={"X-Forwarded-User": "bob-ops@example.com"})
    for name, answer in answers.items():
        assert answer.status_code == 403, name
        assert "cannot use as it is" in answer.text
    assert plain.status_code == 200
    created = db.scalars(select(User.username).where(User.username.like("%ops@example.com")))
    assert list(created) == ["bob-ops@example.com"]
    assert identity.find_user(db, username="a" * 64) is None


def test_proxy_sign_in_needs_the_proxies_addresses() -> None:
    with pytest.raises(SettingsError, match="SERVICEBAY_TRUSTED_PROXIES"):
        load_settings(proxy_auth=True)


def test_proxy_sign_in_still_works_when_the_proxy_forwards_the_callers_address(
    settings: Settings, sessions, db: Session
) -> None:
    with _proxy_app(settings) as client:
        page = client.get(
            "/requests", headers={"X-Forwarded-User": "robin", "X-Forwarded-For": "203.0.113.5"}
        )
    assert page.status_code == 200
    assert identity.find_user(db, username="robin") is not None
