"""Chat notifications: posted to Slack and Teams webhooks by the durable engine, checked
by a real local receiver that refuses a message of the wrong shape."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from servicebay.core import chat, crypto, logs, preferences
from servicebay.core.outbound import OutboundPolicy
from servicebay.core.settings import Settings
from servicebay.portal.app import create_app
from servicebay.portal.cli import main
from servicebay.requests import service
from servicebay.requests.fulfilment import chat as chat_transport
from servicebay.requests.fulfilment.worker import Worker
from servicebay.requests.models import FulfilmentRun, Notification, RunLogLine
from tests.chat_receiver import ChatReceiver, buttons, title
from tests.conftest import TEST_SECRET_KEY
from tests.factories import make_user, sign_in, token_for
from tests.receiver import Receiver
from tests.requests.support import (
    INPUTS,
    SECRET,
    fast,
    owner_and_offering,
    requester,
    status_of,
    submit,
    work_until,
)

ECHO = {"kind": "plugin", "plugin": "echo"}
SECRET_PART = "secret-part"  # in every receiver URL's path: what must never be shown again


def chat_runs(sessions: sessionmaker[Session]) -> list[FulfilmentRun]:
    with sessions() as session:
        statement = select(FulfilmentRun).where(FulfilmentRun.kind == "chat")
        return list(session.scalars(statement.order_by(FulfilmentRun.id)))


def settle(worker: Worker, sessions: sessionmaker[Session]) -> None:
    """Work until every chat run has ended (posted, or given up)."""
    work_until(
        worker,
        lambda: all(run.status in ("succeeded", "dead") for run in chat_runs(sessions)),
    )


def set_chat(
    client: TestClient, headers: dict[str, str], where: str, **body: Any
) -> dict[str, Any]:
    answer = client.put(f"/api/v1/{where}/chat", headers=headers, json=body)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def test_the_owner_team_hears_in_slack_that_a_request_failed_with_a_button_to_its_board(
    client: TestClient, db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    with (
        ChatReceiver("slack") as slack,
        Receiver(SECRET, default=(400, {"error": "quota exceeded"})) as hook,
    ):
        team, lead, offering = owner_and_offering(
            db, fulfilment={"kind": "webhook", "url": hook.url}
        )
        team_slug, team_name = team.slug, team.name
        lead_headers = token_for(db, lead)
        casey = requester(db)
        db.commit()
        chosen = set_chat(
            client, lead_headers, f"teams/{team_slug}", format="slack", url=slack.url()
        )
        assert chosen["topics"] == ["approval_waiting", "failed"]  # what needs the team

        request_id = submit(db, casey, offering)
        worker = Worker(sessions, fast(settings))
        work_until(worker, lambda: status_of(sessions, request_id) == "failed")
        settle(worker, sessions)

    [message] = slack.messages  # "being fulfilled" is not a topic the team chose
    assert message.problems == [] and message.status == 200
    assert message.path == "/services/T000/B000/secret-part"
    assert title(message) == f"Request #{request_id} (Database) failed."
    section = message.body["blocks"][0]["text"]["text"]
    assert "quota exceeded" in section  # the reason, for whoever picks it up
    assert buttons(message) == {
        f"Open {team_name}'s board": f"http://testserver/ops?team={team_slug}",
        f"Open request #{request_id}": f"http://testserver/requests/{request_id}",
    }


def test_a_person_gets_a_teams_adaptive_card_for_each_change_of_their_request(
    client: TestClient, db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    _, _, offering = owner_and_offering(db, fulfilment=ECHO)
    casey = requester(db)
    headers = token_for(db, casey)
    db.commit()
    with ChatReceiver("teams") as teams:
        chosen = set_chat(client, headers, "me", format="teams", url=teams.url())
        assert chosen["topics"] == list(preferences.TOPICS)  # a person hears everything at first
        request_id = submit(db, casey, offering)
        worker = Worker(sessions, fast(settings))
        work_until(worker, lambda: status_of(sessions, request_id) == "completed")
        settle(worker, sessions)

    assert [m.status for m in teams.messages] == [202, 202]  # what a workflow answers
    assert sorted(title(m) for m in teams.messages) == [
        f"Request #{request_id} (Database) is being fulfilled.",
        f"Request #{request_id} (Database) is completed.",
    ]
    for message in teams.messages:
        attachment = message.body["attachments"][0]
        assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
        facts = {f["title"]: f["value"] for f in attachment["content"]["body"][1]["facts"]}
        assert facts["Offering"] == "Database"
        assert buttons(message) == {
            f"Open request #{request_id}": f"http://testserver/requests/{request_id}"
        }


def test_an_approval_waiting_reaches_the_deciding_team_and_its_lead_with_a_button_to_approvals(
    client: TestClient, db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    policy = {"steps": [{"name": "Budget check", "decider": "owner_leads"}]}
    team, lead, offering = owner_and_offering(db, fulfilment=ECHO, approval_policy=policy)
    team_slug, team_name = team.slug, team.name
    lead_headers = token_for(db, lead)
    casey = requester(db)
    db.commit()
    with ChatReceiver("teams") as team_channel, ChatReceiver("slack") as lead_channel:
        set_chat(client, lead_headers, f"teams/{team_slug}", format="teams", url=team_channel.url())
        set_chat(
            client,
            lead_headers,
            "me",
            format="slack",
            url=lead_channel.url(),
            topics=["approval_waiting"],
        )
        request_id = submit(db, casey, offering)
        settle(Worker(sessions, fast(settings)), sessions)

    [for_team] = team_channel.messages
    [for_lead] = lead_channel.messages
    assert for_team.problems == [] and for_lead.problems == []
    assert title(for_team) == (
        f"Request #{request_id} (Database) waits for {team_name}'s approval: Budget check."
    )
    assert (
        title(for_lead)
        == f"Request #{request_id} (Database) waits for your approval: Budget check."
    )
    for message in (for_team, for_lead):
        assert buttons(message)["Review in approvals"] == "http://testserver/approvals"


def test_a_chat_message_is_retried_after_a_server_error_and_posted_once(
    client: TestClient, db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    _, _, offering = owner_and_offering(db, fulfilment=ECHO)
    casey = requester(db)
    headers = token_for(db, casey)
    db.commit()
    with ChatReceiver("slack", failures=[500, 503]) as slack:
        set_chat(client, headers, "me", format="slack", url=slack.url(), topics=["completed"])
        request_id = submit(db, casey, offering)
        worker = Worker(sessions, fast(settings))
        work_until(worker, lambda: status_of(sessions, request_id) == "completed")
        settle(worker, sessions)

    assert [m.status for m in slack.messages] == [500, 503, 200]
    assert [title(m) for m in slack.accepted] == [f"Request #{request_id} (Database) is completed."]
    [run] = chat_runs(sessions)
    assert (run.status, run.attempt) == ("succeeded", 3)
    with sessions() as session:
        log = list(session.scalars(select(RunLogLine.message).where(RunLogLine.run_id == run.id)))
    assert any("answered 500" in line and "backoff" not in line for line in log), log
    assert any("backoff: next attempt" in line for line in log), log
    assert not any(SECRET_PART in line for line in log)  # the host is named, never the URL


def test_a_change_that_is_rolled_back_posts_nothing_and_a_committed_one_posts_once(
    client: TestClient, db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    _, _, offering = owner_and_offering(db, fulfilment=ECHO)
    casey = requester(db)
    headers = token_for(db, casey)
    db.commit()
    with ChatReceiver("slack") as slack:
        set_chat(client, headers, "me", format="slack", url=slack.url(), topics=["in_fulfilment"])
        service.submit(db, actor=casey, offering_slug=offering.slug, inputs=INPUTS)
        db.rollback()  # the submission never happened: nor did its message
        worker = Worker(sessions, fast(settings))
        worker.run_until_idle()
        assert chat_runs(sessions) == [] and slack.messages == []
        request_id = submit(db, casey, offering)
        work_until(worker, lambda: status_of(sessions, request_id) == "completed")
        settle(worker, sessions)

    assert [title(m) for m in slack.messages] == [
        f"Request #{request_id} (Database) is being fulfilled."
    ]


def test_a_private_address_is_refused_unless_the_operator_allows_it(
    db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    _, _, offering = owner_and_offering(db, fulfilment=ECHO)
    casey = requester(db)
    headers = token_for(db, casey)
    db.commit()
    strict = settings.model_copy(update={"fulfilment_allowed_networks": []})
    with ChatReceiver("slack") as slack:
        with TestClient(create_app(strict)) as guarded:
            refused = guarded.put(
                "/api/v1/me/chat", headers=headers, json={"format": "slack", "url": slack.url()}
            )
            assert refused.status_code == 422
            assert "private or internal address" in refused.text
            assert SECRET_PART not in refused.text
            assert guarded.get("/api/v1/me/chat", headers=headers).json()["configured"] is False
        with TestClient(create_app(settings)) as allowing:  # 127.0.0.0/8 is allowed there
            set_chat(allowing, headers, "me", format="slack", url=slack.url(), topics=["completed"])

        # Allowed when saved, not any more when posted: the worker checks again.
        request_id = submit(db, casey, offering)
        worker = Worker(sessions, fast(strict))
        work_until(worker, lambda: status_of(sessions, request_id) == "completed")
        settle(worker, sessions)

    assert status_of(sessions, request_id) == "completed"  # a chat refusal fails no request
    assert slack.messages == []
    [run] = chat_runs(sessions)
    assert run.status == "dead"
    assert "refused to call the chat webhook at 127.0.0.1" in (run.last_error or "")
    assert SECRET_PART not in (run.last_error or "")


def test_the_webhook_url_is_stored_encrypted_and_never_shown_again(
    client: TestClient, db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    team, lead, _ = owner_and_offering(db, fulfilment=ECHO)
    team_slug = team.slug
    lead_name = lead.username
    lead_headers = token_for(db, lead)
    admin_headers = token_for(db, make_user(db, admin=True), scopes=["admin"])
    db.commit()
    with ChatReceiver("slack") as slack:
        csrf = sign_in(client, lead_name)
        saved = client.post(
            "/account/chat",
            data={"csrf_token": csrf, "format": "teams", "url": slack.url(), "topics": "completed"},
            follow_redirects=False,
        )
        assert saved.status_code == 303
        saved = client.post(
            "/ops/chat",
            data={
                "csrf_token": csrf,
                "team": team_slug,
                "format": "slack",
                "url": slack.url(),
                "topics": ["approval_waiting", "failed"],  # what the form has checked at first
            },
            follow_redirects=False,
        )
        assert saved.status_code == 303
        # Changing the topics alone keeps the URL.
        kept = client.post(
            "/account/chat",
            data={"csrf_token": csrf, "format": "slack", "url": "", "topics": "failed"},
            follow_redirects=False,
        )
        assert kept.status_code == 303
        account = client.get("/account").text
        board = client.get(f"/ops?team={team_slug}").text
        client.cookies.clear()
        mine = client.get("/api/v1/me/chat", headers=lead_headers).json()
        ours = client.get(f"/api/v1/teams/{team_slug}/chat", headers=lead_headers).json()
        audit = client.get("/api/v1/audit/events", headers=admin_headers).text

    assert "Posting to <strong>127.0.0.1</strong>" in account
    assert "posted to <strong>127.0.0.1</strong>" in board
    assert mine == {
        "configured": True,
        "format": "slack",
        "host": "127.0.0.1",
        "topics": ["failed"],
        "updated_at": mine["updated_at"],
    }
    assert ours["host"] == "127.0.0.1" and ours["topics"] == ["approval_waiting", "failed"]
    assert "chat.destination_set" in audit
    for shown in (account, board, str(mine), str(ours), audit):
        assert SECRET_PART not in shown
    stored = list(db.execute(text("SELECT url FROM core_chat_destination")).scalars())
    assert len(stored) == 2 and all(value.startswith("gAAAA") for value in stored)
    assert not any(SECRET_PART in value for value in stored)


def test_chat_follows_the_topics_chosen_for_it_and_the_topics_muted_everywhere(
    client: TestClient, db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    _, _, offering = owner_and_offering(db, fulfilment=ECHO)
    casey = requester(db)
    casey_id = casey.id
    headers = token_for(db, casey)
    db.commit()
    worker = Worker(sessions, fast(settings))
    with ChatReceiver("slack") as slack:
        set_chat(client, headers, "me", format="slack", url=slack.url(), topics=["completed"])
        first = submit(db, casey, offering)
        work_until(worker, lambda: status_of(sessions, first) == "completed")
        settle(worker, sessions)
        preferences.choose(db, user_id=casey_id, email=False, topics=["in_fulfilment"])
        db.commit()
        second = submit(db, casey, offering)
        work_until(worker, lambda: status_of(sessions, second) == "completed")
        settle(worker, sessions)

    assert [title(m) for m in slack.messages] == [f"Request #{first} (Database) is completed."]
    notices = list(db.scalars(select(Notification.message).where(Notification.user_id == casey_id)))
    assert f"Request #{first} (Database) is being fulfilled." in notices  # the app still tells


def test_only_a_teams_leads_set_its_chat_and_a_read_token_sets_nothing(
    client: TestClient, db: Session
) -> None:
    team, _, _ = owner_and_offering(db, fulfilment=ECHO)
    team_slug = team.slug
    member = token_for(db, make_user(db, team=team))
    outsider = token_for(db, requester(db))
    reader = token_for(db, make_user(db), scopes=["read"])
    db.commit()
    body = {"format": "slack", "url": "http://127.0.0.1:9/services/x"}
    where = f"/api/v1/teams/{team_slug}/chat"
    assert client.get(where, headers=member).json() == {
        "configured": False,
        "format": None,
        "host": None,
        "topics": [],
        "updated_at": None,
    }
    assert client.put(where, headers=member, json=body).status_code == 403
    assert client.delete(where, headers=member).status_code == 403
    assert client.get(where, headers=outsider).status_code == 404
    assert client.put(where, headers=outsider, json=body).status_code == 404
    assert client.put("/api/v1/me/chat", headers=reader, json=body).status_code == 403
    bad = client.put("/api/v1/me/chat", headers=outsider, json={**body, "format": "irc"})
    assert bad.status_code == 422 and "slack" in bad.text


def test_the_server_log_does_not_carry_the_webhook_url_even_at_info_level(
    client: TestClient,
    db: Session,
    sessions: sessionmaker[Session],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))  # put back after the test
    for name in ("httpx", "httpcore"):
        monkeypatch.setattr(logging.getLogger(name), "level", logging.getLogger(name).level)
    logs.configure("info")  # as `servicebay serve` and `servicebay worker` do
    root.addHandler(caplog.handler)
    caplog.set_level(logging.INFO)
    _, _, offering = owner_and_offering(db, fulfilment=ECHO)
    casey = requester(db)
    headers = token_for(db, casey)
    db.commit()
    with ChatReceiver("slack") as slack:
        set_chat(client, headers, "me", format="slack", url=slack.url(), topics=["completed"])
        request_id = submit(db, casey, offering)
        worker = Worker(sessions, fast(settings))
        work_until(worker, lambda: status_of(sessions, request_id) == "completed")
        settle(worker, sessions)

    assert len(slack.accepted) == 1
    assert "claimed" in caplog.text  # the worker's own lines are there
    assert SECRET_PART not in caplog.text


def test_a_key_rotation_keeps_chat_urls_readable_with_the_new_key(
    db: Session, database_url: str, tmp_path: Path
) -> None:
    casey = requester(db)
    url = "http://127.0.0.1:9/services/T0/B0/secret-part"
    policy = OutboundPolicy.from_lists(["127.0.0.0/8"], [])
    chat.set_for_user(db, user=casey, format="slack", url=url, topics=None, policy=policy)
    db.commit()
    before = db.execute(text("SELECT url FROM core_chat_destination")).scalar_one()
    db.rollback()
    new_key = "a-brand-new-secret-key-for-rotation"
    env = {
        "SERVICEBAY_DATABASE_URL": database_url,
        "SERVICEBAY_DATA_DIR": str(tmp_path),
        "SERVICEBAY_SECRET_KEY": new_key,
        "SERVICEBAY_PREVIOUS_SECRET_KEYS": f'["{TEST_SECRET_KEY}"]',
    }
    try:
        result = CliRunner(env=env).invoke(main, ["secrets", "rotate"])
        assert result.exit_code == 0, result.output
        assert "1 secret(s) re-encrypted" in result.output
        after = db.execute(text("SELECT url FROM core_chat_destination")).scalar_one()
        db.rollback()
        assert after != before
        crypto.configure(new_key)  # the old key is gone now
        assert crypto.decrypt(after) == url
    finally:
        crypto.configure(TEST_SECRET_KEY)


def test_a_name_cannot_mention_the_whole_slack_channel_or_hide_a_link() -> None:
    payload = {
        "message": "Request #7 (Backups <!channel> & <https://evil.example|docs>) failed.",
        "links": [{"label": "Open request #7", "path": "/requests/7"}],
        "details": [["Requester", "<@U123>"]],
    }
    body = chat_transport.message(payload, chat_format="slack", base_url="https://sb.example")
    shown = str(body)
    assert "<!channel>" not in shown and "<https://evil" not in shown and "<@U123>" not in shown
    assert "&lt;!channel&gt; &amp;" in body["text"]
    assert body["blocks"][1]["elements"][0]["url"] == "https://sb.example/requests/7"


def test_a_decision_on_a_need_reaches_its_authors_chat_with_a_button_to_the_need(
    client: TestClient, db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    from servicebay.catalog import demand as demand_service

    author = requester(db)
    admin = make_user(db, "root", admin=True)
    headers = token_for(db, author)
    need = demand_service.create(db, actor=author, title="Kafka topics on request")
    need_id = need.id
    db.commit()
    with ChatReceiver("slack") as slack:
        set_chat(client, headers, "me", format="slack", url=slack.url())
        with sessions() as session, session.begin():
            demand_service.triage(
                session,
                actor=session.get_one(type(admin), admin.id),
                demand=demand_service.get(session, demand_id=need_id),
                state="declined",
                reason="Use the managed event bus",
            )
        settle(Worker(sessions, fast(settings)), sessions)

    [message] = slack.messages
    assert message.problems == [] and message.status == 200
    assert "declined" in title(message) and "Use the managed event bus" in title(message)
    assert buttons(message) == {"Open the need": f"http://testserver/demand/{need_id}"}
