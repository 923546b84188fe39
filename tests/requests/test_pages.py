"""The request page, the approvals inbox and the team board, driven through their forms."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.factories import sign_in
from tests.requests.support import (
    owner_and_offering,
    requester,
    status_of,
    submit,
)


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


ANSWERS = {"database_name": "ledger", "needs_backup": True, "regions": ["eu", "us"]}
LABELLED_FORM = {
    "fields": [
        {"name": "database_name", "label": "Name of the database", "required": True},
        {"name": "needs_backup", "label": "Keep nightly backups", "type": "boolean"},
        {
            "name": "regions",
            "label": "Where it runs",
            "type": "multiselect",
            "options": ["eu", "us"],
        },
    ]
}
LABELS = ("Name of the database", "Keep nightly backups", "Where it runs")
NAMES = ("database_name", "needs_backup", "database name", "needs backup")


def _answers_shown(page: str) -> None:
    assert all(label in page for label in LABELS)
    assert not any(f"<dt>{name}</dt>" in page for name in NAMES)
    assert "<dd>Yes</dd>" in page and "<dd>eu, us</dd>" in page


def test_request_page_board_and_approval_cards_show_the_forms_labels(
    client: TestClient, db: Session
) -> None:
    _, lead, manual = owner_and_offering(db, fulfilment={"kind": "manual"}, form=LABELLED_FORM)
    _, approver_lead, approved = owner_and_offering(
        db,
        fulfilment={"kind": "manual"},
        form=LABELLED_FORM,
        approval_policy={"steps": [{"name": "Check", "decider": "owner_leads"}]},
    )
    casey = requester(db)
    approver = approver_lead.username
    casey_name, lead_name = casey.username, lead.username
    on_board = submit(db, casey, manual, ANSWERS)
    waiting = submit(db, casey, approved, ANSWERS)

    sign_in(client, casey_name)
    _answers_shown(client.get(f"/requests/{on_board}").text)
    sign_in(client, lead_name)
    board = client.get("/ops").text
    assert f"#{on_board}" in board
    _answers_shown(board)
    sign_in(client, approver)
    inbox = client.get("/approvals").text
    assert f"#{waiting}" in inbox
    _answers_shown(inbox)
