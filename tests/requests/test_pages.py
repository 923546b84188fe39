"""The request page, the approvals inbox and the team board, driven through their forms."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from servicebay.core.identity import Role
from servicebay.core.settings import Settings
from servicebay.requests.fulfilment.worker import Worker
from tests.factories import PASSWORD, make_offering, make_team, make_user
from tests.receiver import Receiver
from tests.requests.support import (
    SECRET,
    fast,
    owner_and_offering,
    requester,
    status_of,
    submit,
    work_until,
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
    return str(csrf)


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
    for link in ("/requests", "/approvals", "/ops"):  # the navigation leads to pages, not JSON
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


def test_approver_rejects_from_the_inbox_only_with_a_reason(
    client: TestClient, db: Session, sessions: sessionmaker[Session]
) -> None:
    team = make_team(db)
    lead = make_user(db, team=team, role=Role.LEAD)
    policy = {"steps": [{"name": "Lead check", "decider": "owner_leads"}]}
    offering = make_offering(db, team, lead, approval_policy=policy)
    lead_name = lead.username
    request_id = submit(db, requester(db), offering)
    csrf = sign_in(client, lead_name)

    inbox = client.get("/approvals")
    assert "Lead check" in inbox.text
    approval_id = inbox.text.split('data-approval="')[1].split('"')[0]
    refused = client.post(
        f"/approvals/{approval_id}/decide",
        data={"decision": "reject", "reason": "", "csrf_token": csrf},
    )
    assert refused.status_code == 422 and "needs a reason" in refused.text
    decided = client.post(
        f"/approvals/{approval_id}/decide",
        data={"decision": "reject", "reason": "Use the shared one", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert decided.status_code == 303
    assert status_of(sessions, request_id) == "rejected"
    assert "Nothing is waiting" in client.get("/approvals").text


def test_team_board_moves_tasks_enforces_wip_limits_and_retries_failed_requests(
    client: TestClient, db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    team = make_team(db, "it-ops")
    lead = make_user(db, team=team, role=Role.LEAD)
    manual = make_offering(db, team, lead, fulfilment={"kind": "manual", "checklist": ["Do it"]})
    with Receiver(secret=SECRET, replies=[(500, "no")], default=(200, {"ok": 1})) as hook:
        hooked = make_offering(
            db,
            team,
            lead,
            fulfilment={"kind": "webhook", "url": hook.url, "max_attempts": 1},
            webhook_secret=SECRET,
        )
        casey = requester(db)
        first, second = submit(db, casey, manual), submit(db, casey, manual)
        failing = submit(db, casey, hooked)
        lead_name = lead.username
        db.commit()
        worker = Worker(sessions, fast(settings))
        work_until(worker, lambda: status_of(sessions, failing) == "failed")
        csrf = sign_in(client, lead_name)

        limited = client.post(
            "/ops/teams/it-ops/wip-limits",
            data={"csrf_token": csrf, "todo": "", "doing": "1"},
            follow_redirects=False,
        )
        assert limited.status_code == 303
        board = client.get("/ops/teams/it-ops/board")
        assert 'name="doing" type="number" min="1" value="1"' in board.text
        assert board.status_code == 200
        assert "Do it" in board.text and f"#{failing}" in board.text
        task_ids = [chunk.split('"')[0] for chunk in board.text.split('data-task="')[1:]]
        started = client.post(
            f"/ops/tasks/{task_ids[0]}/advance", data={"csrf_token": csrf}, follow_redirects=False
        )
        assert started.status_code == 303
        blocked = client.post(f"/ops/tasks/{task_ids[1]}/advance", data={"csrf_token": csrf})
        assert blocked.status_code == 409 and "Exceed the WIP limit" in blocked.text
        forced = client.post(
            f"/ops/tasks/{task_ids[1]}/advance",
            data={"csrf_token": csrf, "override_wip": "yes"},
            follow_redirects=False,
        )
        assert forced.status_code == 303
        done = client.post(
            f"/ops/tasks/{task_ids[0]}/advance",
            data={"csrf_token": csrf, "output_key": "account", "output_value": "c7", "notes": "ok"},
            follow_redirects=False,
        )
        assert done.status_code == 303
        assert {status_of(sessions, first), status_of(sessions, second)} == {
            "completed",
            "in_fulfilment",
        }

        retried = client.post(
            f"/ops/requests/{failing}/retry", data={"csrf_token": csrf}, follow_redirects=False
        )
        assert retried.status_code == 303
        work_until(worker, lambda: status_of(sessions, failing) == "completed")
