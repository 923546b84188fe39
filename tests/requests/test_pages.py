"""The request page, the approvals inbox and the team board, driven through their forms."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.factories import PASSWORD
from tests.requests.support import (
    owner_and_offering,
    requester,
    status_of,
    submit,
)


def sign_in(client: TestClient, username: str) -> str:
    """Sign in with a form and return the CSRF token the pages' forms carry."""
    client.cookies.clear()
    client.get("/login")
    csrf = client.cookies.get("sb_csrf")
    answer = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": csrf},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return str(client.cookies.get("sb_csrf"))  # signing in renews the token


def test_request_page_shows_the_timeline_and_takes_comments_and_cancellation(
    client: TestClient, db: Session, sessions: sessionmaker[Session]
) -> None:
    _, _, offering = owner_and_offering(
        db, fulfilment={"kind": "webhook", "url": "http://127.0.0.1:9/x"}
    )
    casey = requester(db)
    username = casey.username
    request_id = submit(db, casey, offering)
    csrf = sign_in(client, username)

    page = client.get(f"/requests/{request_id}")
    assert page.status_code == 200
    assert "submitted" in page.text and "Cancel request" in page.text
    for link in ("/", "/requests", "/ops"):  # the navigation leads to pages, not JSON
        assert f'href="http://testserver{link}"' in page.text

    posted = client.post(
        f"/requests/{request_id}/comments",
        data={"body": "Please hurry", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert posted.status_code == 303
    empty = client.post(f"/requests/{request_id}/comments", data={"body": " ", "csrf_token": csrf})
    assert empty.status_code == 422 and "needs some text" in empty.text
    cancelled = client.post(
        f"/requests/{request_id}/cancel",
        data={"reason": "", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert cancelled.status_code == 303
    page = client.get(f"/requests/{request_id}")
    assert "Please hurry" in page.text
    assert 'data-status="cancelled"' in page.text
    assert status_of(sessions, request_id) == "cancelled"
