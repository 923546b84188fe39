"""Ids beyond anything a column can hold answer a client error, never a server error."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from servicebay.core import identity
from servicebay.portal.security import SESSION_COOKIE
from tests.factories import make_user, token_for

HUGE = "2023814543476707503152037888"
BEYOND_INT32 = str(2**31)


def test_huge_ids_in_the_api_and_on_pages_answer_4xx(client: TestClient, db: Session) -> None:
    user = make_user(db)
    headers = token_for(db, user)
    key = identity.start_session(db, user=user)
    db.commit()
    for number in (HUGE, BEYOND_INT32):
        assert client.get(f"/api/v1/requests/{number}", headers=headers).status_code in (404, 422)
        cancel = client.post(f"/api/v1/requests/{number}/cancel", headers=headers, json={})
        assert cancel.status_code in (404, 422)
        assert client.get(f"/api/v1/demands/{number}", headers=headers).status_code in (404, 422)
    client.cookies.set(SESSION_COOKIE, key)
    page = client.get(f"/requests/{HUGE}")
    assert page.status_code in (404, 422)
    assert "out of range" in page.text or "not found" in page.text.lower()
