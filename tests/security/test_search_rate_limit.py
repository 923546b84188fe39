"""Searching is rate limited per user, in the API and on the home page."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from servicebay.core import identity
from servicebay.core.settings import Settings
from servicebay.portal.app import create_app
from servicebay.portal.security import SESSION_COOKIE
from tests.factories import make_user, token_for


def test_searches_past_the_limit_answer_429_with_retry_after_while_others_still_search(
    settings: Settings, sessions: sessionmaker[Session], db: Session
) -> None:
    casey, robin = make_user(db), make_user(db)
    casey_token, robin_token = token_for(db, casey), token_for(db, robin)
    db.commit()
    limited = settings.model_copy(update={"rate_limit_search": 3})
    with TestClient(create_app(limited)) as client:
        codes = [
            client.get("/api/v1/offerings", params={"q": f"db{i}"}, headers=casey_token).status_code
            for i in range(4)
        ]
        refused = client.get("/api/v1/offerings", params={"q": "x"}, headers=casey_token)
        browsing = client.get("/api/v1/offerings", headers=casey_token)
        other = client.get("/api/v1/offerings", params={"q": "db"}, headers=robin_token)
    assert codes == [200, 200, 200, 429]
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "too many searches" in refused.json()["detail"]
    assert browsing.status_code == 200  # listing without a query is not a search
    assert other.status_code == 200


def test_home_page_search_shares_the_limit_and_answers_429(
    settings: Settings, sessions: sessionmaker[Session], db: Session
) -> None:
    casey = make_user(db)
    headers = token_for(db, casey)
    key = identity.start_session(db, user=casey)
    db.commit()
    limited = settings.model_copy(update={"rate_limit_search": 2})
    with TestClient(create_app(limited)) as client:
        client.cookies.set(SESSION_COOKIE, key)
        first = client.get("/", params={"q": "database"})
        second = client.get("/api/v1/offerings", params={"q": "database"}, headers=headers)
        third = client.get("/", params={"q": "database"})
    assert (first.status_code, second.status_code, third.status_code) == (200, 200, 429)
    assert "Retry-After" in third.headers
