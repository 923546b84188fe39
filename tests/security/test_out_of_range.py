"""Numbers beyond anything a column can hold answer a client error, never a server error,
and the same one on every database."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from servicebay.core import identity
from servicebay.portal.security import SESSION_COOKIE
from tests.factories import make_user, token_for

HUGE = "2023814543476707503152037888"
BEYOND_INT32 = str(2**31)


def test_ids_no_column_can_hold_are_not_found_in_the_api_and_on_pages(
    client: TestClient, db: Session
) -> None:
    user = make_user(db)
    headers = token_for(db, user)
    key = identity.start_session(db, user=user)
    db.commit()
    for number in (HUGE, BEYOND_INT32):
        assert client.get(f"/api/v1/requests/{number}", headers=headers).status_code == 404
        cancel = client.post(f"/api/v1/requests/{number}/cancel", headers=headers, json={})
        assert cancel.status_code == 404
        assert client.get(f"/api/v1/demands/{number}", headers=headers).status_code == 404
    client.cookies.set(SESSION_COOKIE, key)
    for number in (HUGE, BEYOND_INT32):
        page = client.get(f"/requests/{number}")
        assert page.status_code == 404
        assert "We could not find that page" in page.text


def test_a_number_no_column_can_hold_outside_the_path_is_invalid(
    client: TestClient, db: Session
) -> None:
    headers = token_for(db, make_user(db, admin=True), ["read", "admin"])
    db.commit()
    answer = client.get(f"/api/v1/audit/events?before_id={HUGE}", headers=headers)
    assert (answer.status_code, answer.json()) == (
        422,
        {"detail": "a number in the request is out of range"},
    )
