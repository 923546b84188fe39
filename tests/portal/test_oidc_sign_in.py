"""Sign-in with an OpenID Connect provider, against a real one (oidc-provider on 127.0.0.1).

The app is the client the provider knows; the tests play the person at the provider's
login form and bring the browser back to the app's callback, where every check runs.
The bad ID tokens come from the provider itself (its test controls change the next token
response), so they reach the app the way a forged or stale answer would.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from servicebay.core import identity
from servicebay.core.identity import ExternalIdentity, Role, User, UserSession
from servicebay.core.oidc import SignInAttempt
from servicebay.core.settings import Settings
from servicebay.portal.app import create_app
from tests.factories import PASSWORD, make_team, make_user
from tests.identity_provider import IdentityProvider, path_of, sign_in_at_provider
from tests.servers import free_port

APP = "http://testserver"


def _oidc_settings(settings: Settings, provider: IdentityProvider, **overrides: object) -> Settings:
    client_id = f"servicebay-{uuid.uuid4().hex[:8]}"
    provider.register_client(client_id=client_id, secret="client-secret-1", base_url=APP)
    values: dict[str, object] = {
        "oidc_issuer": provider.url,
        "oidc_client_id": client_id,
        "oidc_client_secret": "client-secret-1",
        "oidc_scopes": "openid email profile groups",
        "oidc_groups_claim": "groups",
        "oidc_provider_name": "Example SSO",
        **overrides,
    }
    return settings.model_copy(update=values)


@pytest.fixture
def oidc_client(
    settings: Settings, identity_provider: IdentityProvider, sessions: object
) -> Iterator[TestClient]:
    with TestClient(create_app(_oidc_settings(settings, identity_provider))) as client:
        yield client


def _person(provider: IdentityProvider, **claims: object) -> str:
    login = f"p{uuid.uuid4().hex[:10]}"
    provider.add_person(login, **claims)
    return login


def _start(client: TestClient, next: str = "/") -> str:
    started = client.get("/login/oidc", params={"next": next}, follow_redirects=False)
    assert started.status_code == 303, started.text
    return started.headers["location"]


def _sign_in(client: TestClient, login: str, next: str = "/") -> tuple[str, httpx.Response]:
    """The whole round trip; the callback URL and the app's answer to it."""
    callback = sign_in_at_provider(_start(client, next), login=login, back_to=APP)
    return callback, client.get(path_of(callback), follow_redirects=False)


def _users(db: Session) -> list[User]:
    db.expire_all()
    return list(db.scalars(select(User)))


def _refused(answer: httpx.Response, words: str) -> None:
    assert answer.status_code == 401, answer.text
    assert words in answer.text
    assert "sb_session" not in answer.cookies


def test_first_sign_in_creates_the_user_with_team_and_lead_role_from_groups(
    oidc_client: TestClient, identity_provider: IdentityProvider, db: Session
) -> None:
    make_team(db, "payments")
    make_team(db, "platform")
    db.commit()
    login = _person(
        identity_provider,
        email="pat@example.com",
        name="Pat Doe",
        preferred_username="pat",
        groups=["payments-leads", "platform", "no-such-team"],
    )
    callback, answer = _sign_in(oidc_client, login, next="/requests")
    assert answer.status_code == 303 and answer.headers["location"] == "/requests"
    assert "sb_session" in oidc_client.cookies
    page = oidc_client.get("/requests")
    assert page.status_code == 200 and "Pat Doe" in page.text

    user = identity.get_user(db, username="pat")
    assert (user.email, user.display_name, user.password_hash) == (
        "pat@example.com",
        "Pat Doe",
        None,
    )
    assert {m.team.slug: m.role for m in user.memberships} == {
        "payments": Role.LEAD.value,
        "platform": Role.MEMBER.value,
    }
    assert parse_qs(urlsplit(callback).query)["iss"] == [identity_provider.url]


def test_next_sign_in_follows_the_groups_and_claims_without_a_second_account(
    oidc_client: TestClient, identity_provider: IdentityProvider, db: Session
) -> None:
    make_team(db, "payments")
    make_team(db, "platform")
    db.commit()
    login = _person(identity_provider, name="Pat", groups=["payments-leads", "platform"])
    assert _sign_in(oidc_client, login)[1].status_code == 303
    identity_provider.add_person(login, name="Pat Renamed", groups=["payments"])
    assert _sign_in(oidc_client, login)[1].status_code == 303

    [user] = _users(db)
    assert user.display_name == "Pat Renamed"
    assert {m.team.slug: m.role for m in user.memberships} == {"payments": Role.MEMBER.value}
    assert db.scalar(select(ExternalIdentity.subject)) == login


def test_an_existing_local_account_with_the_same_name_is_not_taken_over(
    oidc_client: TestClient, identity_provider: IdentityProvider, db: Session
) -> None:
    make_user(db, "casey", admin=True)
    db.commit()
    login = _person(identity_provider, preferred_username="casey", email="casey@example.com")
    assert _sign_in(oidc_client, login)[1].status_code == 303

    newcomer = db.scalar(select(User).join(ExternalIdentity, ExternalIdentity.user_id == User.id))
    assert newcomer is not None and newcomer.username == "casey@example.com"
    assert not newcomer.is_admin
    assert identity.get_user(db, username="casey").password_hash is not None


def test_tampered_id_token_is_refused(
    oidc_client: TestClient, identity_provider: IdentityProvider, db: Session
) -> None:
    login = _person(identity_provider, name="Mallory")
    identity_provider.next_id_token(tamper={"sub": "the-admin", "name": "Admin"})
    _refused(_sign_in(oidc_client, login)[1], "a signature that does not match")
    assert _users(db) == []


def test_id_token_for_another_audience_is_refused(
    oidc_client: TestClient, identity_provider: IdentityProvider, db: Session
) -> None:
    login = _person(identity_provider)
    identity_provider.next_id_token(claims={"aud": "another-application"})
    _refused(_sign_in(oidc_client, login)[1], "issued for another application")
    assert _users(db) == []


def test_expired_id_token_is_refused(
    oidc_client: TestClient, identity_provider: IdentityProvider, db: Session
) -> None:
    login = _person(identity_provider)
    an_hour_ago = int(time.time()) - 3600
    identity_provider.next_id_token(claims={"iat": an_hour_ago - 600, "exp": an_hour_ago})
    _refused(_sign_in(oidc_client, login)[1], "has expired")
    assert _users(db) == []


def test_replayed_state_is_refused_and_signs_nobody_in(
    oidc_client: TestClient, identity_provider: IdentityProvider, db: Session
) -> None:
    login = _person(identity_provider)
    started = _start(oidc_client)
    state = parse_qs(urlsplit(started).query)["state"][0]
    callback = sign_in_at_provider(started, login=login, back_to=APP)
    assert oidc_client.get(path_of(callback), follow_redirects=False).status_code == 303
    sessions_before = len(list(db.scalars(select(UserSession))))
    db.rollback()  # on SQLite an open transaction would hold the app's write lock

    oidc_client.cookies.clear()
    oidc_client.cookies.set("sb_oidc_state", state, path="/login/oidc/callback")
    _refused(
        oidc_client.get(path_of(callback), follow_redirects=False), "expired or was already used"
    )
    db.expire_all()
    assert len(list(db.scalars(select(UserSession)))) == sessions_before
    assert list(db.scalars(select(SignInAttempt))) == []


def test_replayed_id_token_with_an_earlier_nonce_is_refused(
    oidc_client: TestClient, identity_provider: IdentityProvider, db: Session
) -> None:
    login = _person(identity_provider)
    assert _sign_in(oidc_client, login)[1].status_code == 303
    oidc_client.cookies.clear()

    identity_provider.next_id_token(replay=True)  # the first sign-in's genuine ID token
    _refused(_sign_in(oidc_client, login)[1], "nonce does not match")


def test_sign_in_that_began_in_another_browser_is_refused(
    oidc_client: TestClient, identity_provider: IdentityProvider, db: Session
) -> None:
    login = _person(identity_provider)
    callback = sign_in_at_provider(_start(oidc_client), login=login, back_to=APP)
    oidc_client.cookies.clear()  # the victim's browser, handed the attacker's callback
    _refused(
        oidc_client.get(path_of(callback), follow_redirects=False), "did not start in this browser"
    )
    assert _users(db) == []


def test_sign_in_goes_on_working_after_the_provider_rotates_its_key(
    oidc_client: TestClient, identity_provider: IdentityProvider, db: Session
) -> None:
    login = _person(identity_provider)
    assert _sign_in(oidc_client, login)[1].status_code == 303  # the app now holds the keys
    oidc_client.cookies.clear()
    identity_provider.rotate_keys()  # new tokens name a key the app has not seen

    _, answer = _sign_in(oidc_client, login)
    assert answer.status_code == 303, answer.text
    assert "sb_session" in answer.cookies


def test_id_token_signed_with_a_key_the_provider_does_not_publish_is_refused(
    oidc_client: TestClient, identity_provider: IdentityProvider, db: Session
) -> None:
    login = _person(identity_provider)
    identity_provider.next_id_token(key="unpublished")
    _refused(_sign_in(oidc_client, login)[1], "key the sign-in service does not publish")
    assert _users(db) == []


def test_sign_out_ends_the_session_here_and_at_the_provider(
    oidc_client: TestClient, identity_provider: IdentityProvider, db: Session
) -> None:
    login = _person(identity_provider)
    assert _sign_in(oidc_client, login)[1].status_code == 303
    key = oidc_client.cookies["sb_session"]
    signed_out = oidc_client.post(
        "/logout", data={"csrf_token": oidc_client.cookies["sb_csrf"]}, follow_redirects=False
    )
    at_provider = signed_out.headers["location"]
    assert at_provider.startswith(identity_provider.url + "/session/end?")
    assert "id_token_hint=" in at_provider
    oidc_client.cookies.set("sb_session", key)
    assert oidc_client.get("/requests", follow_redirects=False).status_code == 303

    with httpx.Client() as browser:  # the provider asks, then sends the browser back
        confirm = browser.get(at_provider)
        assert confirm.status_code == 200, confirm.text
        done = browser.post(
            urljoin(str(confirm.url), _form_action(confirm.text)),
            data={**_hidden_inputs(confirm.text), "logout": "yes"},
        )
        assert done.status_code == 303 and done.headers["location"] == APP + "/login"


def test_provider_down_shows_a_clear_page_and_local_admin_sign_in_still_works(
    settings: Settings, sessions: object, db: Session
) -> None:
    make_user(db, "root", admin=True)
    db.commit()
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    broken = settings.model_copy(
        update={"oidc_issuer": down, "oidc_client_id": "servicebay", "local_sign_in": "admins"}
    )
    with TestClient(create_app(broken)) as client:
        answer = client.get("/login/oidc", follow_redirects=False)
        assert answer.status_code == 503
        assert "cannot be reached" in answer.text
        assert "Administrators can still sign in with a local account" in answer.text
        assert 'name="password"' in answer.text

        signed_in = client.post(
            "/login",
            data={
                "username": "root",
                "password": PASSWORD,
                "csrf_token": client.cookies["sb_csrf"],
            },
            follow_redirects=False,
        )
        assert signed_in.status_code == 303 and "sb_session" in client.cookies


def test_provider_answering_garbage_shows_a_clear_page(
    oidc_client: TestClient, identity_provider: IdentityProvider, db: Session
) -> None:
    try:
        identity_provider.misbehave("garbage")
        answer = oidc_client.get("/login/oidc", follow_redirects=False)
        assert answer.status_code == 502
        assert "answered its discovery document with something that is not one" in answer.text
        assert 'name="password"' in answer.text
    finally:
        identity_provider.misbehave("normal")


def test_garbage_from_the_token_endpoint_shows_a_clear_page(
    oidc_client: TestClient, identity_provider: IdentityProvider, db: Session
) -> None:
    login = _person(identity_provider)
    callback = sign_in_at_provider(_start(oidc_client), login=login, back_to=APP)
    try:
        identity_provider.misbehave("garbage")
        answer = oidc_client.get(path_of(callback), follow_redirects=False)
    finally:
        identity_provider.misbehave("normal")
    assert answer.status_code == 502
    assert "not a token response" in answer.text
    assert _users(db) == []


def test_the_provider_saying_no_shows_why(
    oidc_client: TestClient, identity_provider: IdentityProvider, db: Session
) -> None:
    started = _start(oidc_client)
    state = parse_qs(urlsplit(started).query)["state"][0]
    answer = oidc_client.get(
        "/login/oidc/callback",
        params={"state": state, "error": "access_denied", "error_description": "Not today"},
    )
    _refused(answer, "did not sign you in: Not today")


def test_with_local_sign_in_off_only_the_provider_signs_people_in(
    settings: Settings, identity_provider: IdentityProvider, sessions: object, db: Session
) -> None:
    make_user(db, "casey", admin=True)
    db.commit()
    with TestClient(
        create_app(_oidc_settings(settings, identity_provider, local_sign_in="off"))
    ) as client:
        page = client.get("/login")
        assert "Sign in with Example SSO" in page.text
        assert 'name="password"' not in page.text
        refused = client.post(
            "/login",
            data={
                "username": "casey",
                "password": PASSWORD,
                "csrf_token": client.cookies["sb_csrf"],
            },
        )
        assert refused.status_code == 403 and "switched off" in refused.text
        assert "sb_session" not in client.cookies


def test_with_local_sign_in_for_admins_others_are_refused_like_a_wrong_password(
    settings: Settings, identity_provider: IdentityProvider, sessions: object, db: Session
) -> None:
    make_user(db, "casey")
    make_user(db, "root", admin=True)
    db.commit()
    with TestClient(
        create_app(_oidc_settings(settings, identity_provider, local_sign_in="admins"))
    ) as client:
        assert "Administrators: local account" in client.get("/login").text
        token = client.cookies["sb_csrf"]
        member = client.post(
            "/login", data={"username": "casey", "password": PASSWORD, "csrf_token": token}
        )
        assert member.status_code == 401 and "Wrong username or password." in member.text
        admin = client.post(
            "/login",
            data={"username": "root", "password": PASSWORD, "csrf_token": token},
            follow_redirects=False,
        )
        assert admin.status_code == 303


def _hidden_inputs(page: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for chunk in page.split("<input")[1:]:
        if 'type="hidden"' not in chunk:
            continue
        name = chunk.split('name="', 1)[1].split('"', 1)[0]
        value = chunk.split('value="', 1)[1].split('"', 1)[0] if 'value="' in chunk else ""
        found[name] = value
    return found


def _form_action(page: str) -> str:
    return page.split('action="', 1)[1].split('"', 1)[0]


def test_a_switched_off_account_cannot_sign_in_through_the_provider(
    oidc_client: TestClient, identity_provider: IdentityProvider, db: Session
) -> None:
    login = _person(identity_provider, preferred_username="gone")
    assert _sign_in(oidc_client, login)[1].status_code == 303
    identity.get_user(db, username="gone").is_active = False
    db.commit()
    oidc_client.cookies.clear()

    answer = _sign_in(oidc_client, login)[1]
    assert answer.status_code == 403 and "switched off" in answer.text
    assert "sb_session" not in answer.cookies


def test_admin_groups_decide_who_is_an_administrator(
    settings: Settings, identity_provider: IdentityProvider, sessions: object, db: Session
) -> None:
    configured = _oidc_settings(settings, identity_provider, oidc_admin_groups=["sb-admins"])
    login = _person(identity_provider, preferred_username="ada", groups=["sb-admins"])
    with TestClient(create_app(configured)) as client:
        assert _sign_in(client, login)[1].status_code == 303
        assert client.get("/admin/audit").status_code == 200
        assert identity.get_user(db, username="ada").is_admin
        db.rollback()

        identity_provider.add_person(login, preferred_username="ada", groups=[])
        client.cookies.clear()
        assert _sign_in(client, login)[1].status_code == 303
        assert client.get("/admin/audit").status_code == 403
    assert not identity.get_user(db, username="ada").is_admin
