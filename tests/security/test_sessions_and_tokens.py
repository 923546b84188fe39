"""Sessions: fixation, cookie attributes, idle and absolute expiry, logout; tokens never
grant more than their user has."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from servicebay.core import clock, identity
from servicebay.core.settings import Settings
from servicebay.portal.app import create_app
from servicebay.portal.security import CSRF_COOKIE, CSRF_FIELD, SESSION_COOKIE
from tests.factories import PASSWORD, make_user, token_for


def _sign_in(client: TestClient, username: str):  # type: ignore[no-untyped-def]
    client.get("/login")
    return client.post(
        "/login",
        data={
            "username": username,
            "password": PASSWORD,
            "csrf_token": client.cookies[CSRF_COOKIE],
        },
        follow_redirects=False,
    )


def _whoami(client: TestClient, key: str) -> str | None:
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, key)
    answer = client.get("/api/v1/me")
    return answer.json()["username"] if answer.status_code == 200 else None


def test_signing_in_never_keeps_a_session_key_the_browser_already_had(
    client: TestClient, db: Session
) -> None:
    mallory, casey = make_user(db, "mallory"), make_user(db, "casey")
    planted = identity.start_session(db, user=mallory)
    db.commit()
    client.cookies.set(SESSION_COOKIE, planted)
    answer = _sign_in(client, "casey")
    assert answer.status_code == 303
    fresh = answer.cookies[SESSION_COOKIE]
    assert fresh != planted
    assert _whoami(client, fresh) == "casey"
    assert _whoami(client, planted) is None  # the planted session was ended, not upgraded
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, "chosen-by-an-attacker")
    assert _sign_in(client, "casey").cookies[SESSION_COOKIE] != "chosen-by-an-attacker"
    assert casey.username == "casey"


def test_session_cookie_is_httponly_lax_and_secure_behind_https(
    settings: Settings, sessions, db: Session
) -> None:
    make_user(db, "casey")
    db.commit()
    with TestClient(create_app(settings)) as plain:
        cookie = _sign_in(plain, "casey").headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    secure_settings = settings.model_copy(update={"base_url": "https://portal.example.com"})
    with TestClient(create_app(secure_settings), base_url="https://testserver") as tls:
        cookie = _sign_in(tls, "casey").headers["set-cookie"].lower()
    assert "secure" in cookie and "httponly" in cookie


def test_sessions_end_after_idle_time_and_after_absolute_time(
    settings: Settings, client: TestClient, db: Session
) -> None:
    casey = make_user(db, "casey")
    idle_key = identity.start_session(db, user=casey)
    busy_key = identity.start_session(db, user=casey)
    db.commit()
    idle = timedelta(minutes=settings.session_idle_minutes)
    absolute = timedelta(hours=settings.session_absolute_hours)
    clock.advance(idle - timedelta(minutes=2))
    assert _whoami(client, busy_key) == "casey"
    clock.advance(timedelta(minutes=3))
    assert _whoami(client, idle_key) is None  # idle too long
    assert _whoami(client, busy_key) == "casey"  # seen recently
    while clock.now() < casey.created_at + absolute:
        assert _whoami(client, busy_key) == "casey"
        clock.advance(idle / 2)
    clock.advance(idle / 2)
    assert _whoami(client, busy_key) is None  # however busy, not past the absolute limit


def test_logout_ends_the_session_on_the_server_so_a_copied_cookie_is_useless(
    client: TestClient, db: Session
) -> None:
    make_user(db, "casey")
    db.commit()
    key = _sign_in(client, "casey").cookies[SESSION_COOKIE]
    client.post("/logout", headers={"X-CSRF-Token": client.cookies[CSRF_COOKIE]})
    assert _whoami(client, key) is None


def test_an_admin_scope_token_of_a_user_no_longer_admin_grants_nothing_more(
    client: TestClient, db: Session
) -> None:
    root = make_user(db, "root", admin=True)
    headers = token_for(db, root, ["read", "admin"])
    db.commit()
    assert client.get("/api/v1/audit/events", headers=headers).status_code == 200
    root.is_admin = False
    db.commit()
    assert client.get("/api/v1/audit/events", headers=headers).status_code == 403
    wider = client.post("/api/v1/tokens", headers=headers, json={"name": "x", "scopes": ["admin"]})
    assert wider.status_code == 403


def test_a_read_token_cannot_revoke_or_create_wider_and_a_page_cannot_revoke_others_tokens(
    client: TestClient, db: Session
) -> None:
    casey, robin = make_user(db, "casey"), make_user(db, "robin")
    reader = token_for(db, casey, ["read"])
    robins = identity.create_token(db, user=robin, name="robin's", scopes=["read"])
    db.commit()
    wider = client.post("/api/v1/tokens", headers=reader, json={"name": "x", "scopes": ["ops"]})
    assert wider.status_code == 403
    _sign_in(client, "casey")
    client.post(
        f"/account/tokens/{robins.token.id}/revoke",
        headers={"X-CSRF-Token": client.cookies[CSRF_COOKIE]},
    )
    client.cookies.clear()
    still = client.get("/api/v1/me", headers={"Authorization": f"Bearer {robins.value}"})
    assert still.status_code == 200


def test_a_token_without_the_read_scope_reads_nothing(client: TestClient, db: Session) -> None:
    headers = token_for(db, make_user(db), ["request"])
    db.commit()
    assert client.get("/api/v1/requests", headers=headers).status_code == 403
    assert client.get("/api/v1/me", headers=headers).status_code == 403


def _post_token_form(client: TestClient, csrf: str) -> int:
    answer = client.post("/account/tokens", data={"name": "laptop", CSRF_FIELD: csrf})
    return answer.status_code


def test_a_csrf_token_the_client_chose_is_refused_even_when_the_cookie_matches(
    client: TestClient, db: Session
) -> None:
    casey = make_user(db, "casey")
    key = identity.start_session(db, user=casey)
    db.commit()
    client.cookies.set(SESSION_COOKIE, key)
    client.cookies.set(CSRF_COOKIE, "abc")
    assert _post_token_form(client, "abc") == 403
    client.cookies.clear()
    client.cookies.set(CSRF_COOKIE, "abc")  # the sign-in form, before any session
    chosen = client.post(
        "/login", data={"username": "casey", "password": PASSWORD, CSRF_FIELD: "abc"}
    )
    assert chosen.status_code == 403
    assert SESSION_COOKIE not in client.cookies
    assert identity.tokens_of(db, user=casey) == []


def test_the_csrf_token_belongs_to_one_session_and_is_renewed_at_sign_in_and_sign_out(
    app: FastAPI, client: TestClient, db: Session
) -> None:
    make_user(db, "casey")
    robin = make_user(db, "robin")
    robins_key = identity.start_session(db, user=robin)
    db.commit()
    client.get("/login")
    before = client.cookies[CSRF_COOKIE]
    assert _sign_in(client, "casey").status_code == 303
    signed_in = client.cookies[CSRF_COOKIE]
    assert signed_in != before
    assert _post_token_form(client, before) == 403  # the pre-session token is spent
    assert _post_token_form(client, signed_in) == 200
    with TestClient(app, cookies={SESSION_COOKIE: robins_key}) as robins_browser:
        assert _post_token_form(robins_browser, signed_in) == 403  # casey's is not robin's

    assert client.post("/logout", data={CSRF_FIELD: signed_in}).status_code == 200
    signed_out = client.cookies[CSRF_COOKIE]
    assert signed_out not in (before, signed_in)
    again = {"username": "casey", "password": PASSWORD}
    stale = client.post("/login", data={**again, CSRF_FIELD: signed_in}, follow_redirects=False)
    assert stale.status_code == 403
    fresh = client.post("/login", data={**again, CSRF_FIELD: signed_out}, follow_redirects=False)
    assert fresh.status_code == 303


def test_the_csrf_cookie_is_secure_whenever_the_session_cookie_is(
    settings: Settings, sessions, db: Session
) -> None:
    make_user(db, "casey")
    db.commit()
    behind_tls = settings.model_copy(update={"base_url": "https://portal.example.com"})
    # TLS ends at the proxy: the portal itself is reached over plain http.
    with TestClient(create_app(behind_tls), follow_redirects=False) as client:
        form = client.get("/login")
        assert "secure" in form.headers["set-cookie"].lower()
        token = form.cookies[CSRF_COOKIE]
        client.cookies.set(CSRF_COOKIE, token)
        signed_in = client.post(
            "/login", data={"username": "casey", "password": PASSWORD, CSRF_FIELD: token}
        )
    assert signed_in.status_code == 303
    cookies = signed_in.headers.get_list("set-cookie")
    assert {cookie.split("=")[0] for cookie in cookies} == {SESSION_COOKIE, CSRF_COOKIE}
    assert all("secure" in cookie.lower() for cookie in cookies)


def test_answers_to_signed_in_callers_are_never_stored_but_static_files_keep_caching(
    client: TestClient, db: Session
) -> None:
    casey = make_user(db, "casey")
    headers = token_for(db, casey)
    db.commit()
    assert "no-store" not in client.get("/login").headers.get("cache-control", "")
    _sign_in(client, "casey")
    for path in ("/", "/requests", "/account", "/requests/999999"):
        assert client.get(path).headers["cache-control"] == "no-store", path
    static = client.get("/static/css/servicebay.css")
    assert static.status_code == 200
    assert "no-store" not in static.headers.get("cache-control", "")
    client.cookies.clear()
    assert client.get("/api/v1/me", headers=headers).headers["cache-control"] == "no-store"
