"""Demand converges: a need like an open one is offered the open one to vote for, votes
can be taken back and stay exact when many arrive at once, the author and voters hear of
each decision, and a merged need points everyone to the one it was merged into."""

from __future__ import annotations

import email
import email.policy
import threading
import time
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from servicebay.catalog import demand as demand_service
from servicebay.catalog.models import Demand, DemandVote
from servicebay.core import preferences
from servicebay.core.database import transaction
from servicebay.core.identity import Role, User
from servicebay.core.settings import Settings
from servicebay.requests import notifications
from servicebay.requests.fulfilment.worker import Worker
from servicebay.requests.models import FulfilmentRun, Notification
from tests.factories import make_offering, make_team, make_user, sign_in, token_for
from tests.requests.support import fast


def kafka_need(db: Session, *, votes: int = 2) -> tuple[Demand, list[User]]:
    """ "Kafka topics on request" with ``votes`` votes (its author's among them)."""
    author = make_user(db, "ari")
    need = demand_service.create(db, actor=author, title="Kafka topics on request")
    voters = [author]
    for _ in range(votes - 1):
        voter = make_user(db)
        demand_service.vote(db, actor=voter, demand=need)
        voters.append(voter)
    return need, voters


def demand_count(db: Session) -> int:
    return int(db.scalar(select(func.count(Demand.id))) or 0)


# --- similar needs ---------------------------------------------------------------------


def test_typing_a_need_like_an_open_one_offers_the_open_one_to_vote_for_instead(
    client: TestClient, db: Session
) -> None:
    need, _ = kafka_need(db)
    demand_service.create(db, actor=make_user(db), title="Fax machines")
    make_user(db, "casey")
    need_id = need.id
    db.commit()
    sign_in(client, "casey")

    typed = client.get("/demand", params={"title": "Kafka topic"}, headers={"HX-Request": "true"})
    assert typed.status_code == 200
    assert 'id="similar-needs"' in typed.text and "<html" not in typed.text, "only the block"
    assert "Kafka topics on request" in typed.text and "Vote for this instead" in typed.text
    assert f'formaction="http://testserver/demand/{need_id}/vote"' in typed.text
    assert "Fax machines" not in typed.text
    unlike = client.get("/demand", params={"title": "GPU box"}, headers={"HX-Request": "true"})
    assert "Vote for this instead" not in unlike.text

    found = client.get("/api/v1/demands/similar", params={"title": "Kafka topic"})
    assert [row["id"] for row in found.json()] == [need_id]


def test_filing_a_near_duplicate_without_javascript_asks_did_you_mean_these_first(
    client: TestClient, db: Session
) -> None:
    need, _ = kafka_need(db)
    make_user(db, "casey")
    need_id = need.id
    db.commit()
    csrf = sign_in(client, "casey")
    before = demand_count(db)
    db.rollback()

    asked = client.post("/demand", data={"csrf_token": csrf, "title": "Kafka topic"})
    assert asked.status_code == 200
    assert "Did you mean one of these?" in asked.text and "Kafka topics on request" in asked.text
    assert "Send mine as a new need" in asked.text
    assert demand_count(db) == before, "nothing is filed yet"
    db.rollback()

    instead = client.post(f"/demand/{need_id}/vote", data={"csrf_token": csrf})
    assert "You voted for “Kafka topics on request”" in instead.text
    db.expire_all()
    assert db.get_one(Demand, need_id).votes == 3
    db.rollback()

    anyway = client.post(
        "/demand", data={"csrf_token": csrf, "title": "Kafka topic", "despite_similar": "1"}
    )
    assert "your need is recorded" in anyway.text
    assert demand_count(db) == before + 1


# --- votes -----------------------------------------------------------------------------


def test_a_vote_is_taken_back_on_the_page_and_in_the_api(client: TestClient, db: Session) -> None:
    need, _ = kafka_need(db, votes=1)
    casey = make_user(db, "casey")
    dana = make_user(db, "dana")
    demand_service.vote(db, actor=casey, demand=need)
    demand_service.vote(db, actor=dana, demand=need)
    headers = token_for(db, dana)
    need_id = need.id
    db.commit()

    csrf = sign_in(client, "casey")
    page = client.get(f"/demand/{need_id}")
    assert "Take back my vote" in page.text
    taken = client.post(f"/demand/{need_id}/vote/withdraw", data={"csrf_token": csrf})
    assert "Your vote for “Kafka topics on request” is taken back." in taken.text
    assert "Take back my vote" not in taken.text and ">Vote<" in taken.text
    assert '<span class="vote-count">2</span>' in taken.text
    again = client.post(f"/demand/{need_id}/vote/withdraw", data={"csrf_token": csrf})
    assert '<span class="vote-count">2</span>' in again.text, "no vote, nothing taken"

    client.cookies.clear()
    assert client.delete(f"/api/v1/demands/{need_id}/vote", headers=headers).json()["votes"] == 1
    assert client.delete(f"/api/v1/demands/{need_id}/vote", headers=headers).json()["votes"] == 1
    assert client.post(f"/api/v1/demands/{need_id}/vote", headers=headers).json()["votes"] == 2
    db.expire_all()
    voters = db.scalars(select(DemandVote.user_id).where(DemandVote.demand_id == need_id))
    assert sorted(voters) == sorted([need.author_id, dana.id])


def at_once(count: int, work: Callable[[int], None]) -> list[BaseException]:
    """Run ``work(0..count-1)`` on threads released together; the errors they raised."""
    start = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(number: int) -> None:
        start.wait()
        try:
            work(number)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(number,)) for number in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_votes_and_withdrawals_arriving_at_once_are_each_counted_exactly(
    db: Session, sessions: sessionmaker[Session]
) -> None:
    need, _ = kafka_need(db, votes=1)
    people = [make_user(db) for _ in range(12)]
    need_id, ids = need.id, [person.id for person in people]
    db.commit()

    def vote(number: int) -> None:
        with transaction(sessions) as session:
            voter = session.get_one(User, ids[number])
            found = demand_service.get(session, demand_id=need_id)
            time.sleep(0.05)  # everyone has read the count before anyone writes
            demand_service.vote(session, actor=voter, demand=found)
            if number % 3 == 0:
                demand_service.vote(session, actor=voter, demand=found)  # a double click

    assert at_once(12, vote) == []

    def withdraw(number: int) -> None:
        with transaction(sessions) as session:
            voter = session.get_one(User, ids[number])
            found = demand_service.get(session, demand_id=need_id)
            time.sleep(0.05)
            demand_service.withdraw_vote(session, actor=voter, demand=found)

    assert at_once(5, withdraw) == []
    db.expire_all()
    rows = db.scalar(select(func.count(DemandVote.id)).where(DemandVote.demand_id == need_id))
    assert rows == 1 + 12 - 5
    assert db.get_one(Demand, need_id).votes == rows


# --- who hears what --------------------------------------------------------------------


def triage_world(db: Session) -> tuple[User, dict[str, str]]:
    platform = make_team(db, "platform")
    pat = make_user(db, "pat", team=platform, role=Role.LEAD)
    make_offering(db, platform, pat, slug="kafka", name="Kafka topic")
    return pat, token_for(db, pat)


def messages_of(db: Session, user: User) -> list[tuple[str, int | None]]:
    rows = db.scalars(
        select(Notification).where(Notification.user_id == user.id).order_by(Notification.id)
    )
    return [(row.message, row.demand_id) for row in rows]


def test_the_author_and_voters_hear_of_accept_decline_merge_and_ship(
    client: TestClient, db: Session
) -> None:
    pat, lead = triage_world(db)
    need, (ari, voter) = kafka_need(db)
    demand_service.vote(db, actor=pat, demand=need)  # the one deciding is not told
    fax = demand_service.create(db, actor=ari, title="Fax machines")
    demand_service.vote(db, actor=voter, demand=fax)
    duplicate = demand_service.create(db, actor=voter, title="Kafka for payments")
    need_id, fax_id, duplicate_id = need.id, fax.id, duplicate.id
    voters_token = token_for(db, voter)
    db.commit()

    def triage(demand_id: int, **body: str) -> None:
        answer = client.post(f"/api/v1/demands/{demand_id}/triage", headers=lead, json=body)
        assert answer.status_code == 200, answer.text

    triage(need_id, state="accepted", offering="kafka")
    triage(fax_id, state="declined", reason="Nobody sends faxes here")
    merged = client.post(
        f"/ops/demand/{duplicate_id}/merge",
        data={"csrf_token": sign_in(client, "pat"), "into": str(need_id)},
    )
    assert merged.status_code == 200
    triage(need_id, state="planned")
    triage(need_id, state="shipped")

    accepted = "The need “Kafka topics on request” was accepted: “Kafka topic” is being made"
    declined = "The need “Fax machines” was declined: Nobody sends faxes here"
    moved = "The need “Kafka for payments” was merged into #{} “Kafka topics on request”"
    shipped = "The need “Kafka topics on request” shipped: request “Kafka topic” in the catalog."
    for person, expected in (
        (ari, [(accepted, need_id), (declined, fax_id), (shipped, need_id)]),
        (voter, [(accepted, need_id), (declined, fax_id), (moved, need_id), (shipped, need_id)]),
    ):
        told = messages_of(db, person)
        assert [demand_id for _, demand_id in told] == [demand_id for _, demand_id in expected]
        for (message, _), (start, _) in zip(told, expected, strict=True):
            assert message.startswith(start.format(need_id)), (message, start)
    assert messages_of(db, pat) == []
    username = voter.username
    db.rollback()

    sign_in(client, username)
    listed = client.get("/notifications").text
    assert f'href="http://testserver/demand/{need_id}">The need “Kafka for payments”' in listed
    client.cookies.clear()
    api = client.get("/api/v1/notifications", headers=voters_token).json()
    assert {row["demand_id"] for row in api} == {need_id, fax_id}
    assert all(row["request_id"] is None for row in api)


def test_a_person_who_muted_a_demand_topic_is_not_told_of_it(db: Session) -> None:
    pat, _ = triage_world(db)
    need, (ari, voter) = kafka_need(db)
    preferences.choose(
        db,
        user_id=voter.id,
        email=True,
        topics=[topic for topic in preferences.TOPICS if topic != "demand_declined"],
    )
    demand_service.triage(db, actor=pat, demand=need, state="declined", reason="Not this year")
    db.flush()
    assert len(messages_of(db, ari)) == 1
    assert messages_of(db, voter) == []


def test_decisions_are_emailed_through_the_durable_engine_with_a_link(
    db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    from tests.requests.test_conversation import Inbox, free_port

    port = free_port()
    notifications.configure(sessions, email=True, base_url="https://portal.example")
    pat, _ = triage_world(db)
    need, (_, voter) = kafka_need(db)
    preferences.choose(db, user_id=voter.id, email=False, topics=list(preferences.TOPICS))
    need_id, pat_id = need.id, pat.id
    db.commit()
    with transaction(sessions) as session:
        found = demand_service.get(session, demand_id=need_id)
        lead = session.get_one(User, pat_id)
        demand_service.triage(session, actor=lead, demand=found, state="declined", reason="No")

    runs = list(db.scalars(select(FulfilmentRun).where(FulfilmentRun.kind == "email")))
    assert len(runs) == 1, "the voter chose the app only"
    assert runs[0].request_id is None
    assert runs[0].payload["to"] == "someone@example.com"
    run_id = runs[0].id
    db.rollback()

    from aiosmtpd.controller import Controller

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        worker = Worker(sessions, fast(settings, smtp_host="127.0.0.1", smtp_port=port))
        deadline = time.monotonic() + 20
        while not inbox.messages:
            assert time.monotonic() < deadline, "the email never arrived"
            if worker.run_once() == 0:
                time.sleep(0.1)
    finally:
        controller.stop()
    (message,) = inbox.messages
    body = email.message_from_string(message, policy=email.policy.default)
    assert body["Subject"] == "[servicebay] The need “Kafka topics on request” was declined: No"
    assert f"https://portal.example/demand/{need_id}" in body.get_content()
    assert db.get_one(FulfilmentRun, run_id).status == "succeeded"


# --- merged needs ----------------------------------------------------------------------


def test_a_merged_need_shows_where_it_went_to_everyone_not_declined(
    client: TestClient, db: Session
) -> None:
    pat, _ = triage_world(db)
    need, _ = kafka_need(db)
    casey = make_user(db, "casey")
    duplicate = demand_service.create(db, actor=casey, title="Kafka topic please")
    demand_service.merge(db, actor=pat, duplicate=duplicate, into=need)
    stranger = make_user(db, "dana")
    need_id, duplicate_id = need.id, duplicate.id
    headers = {"casey": token_for(db, casey), "dana": token_for(db, stranger)}
    db.commit()

    link = f'Merged into <a href="http://testserver/demand/{need_id}">#{need_id} Kafka topics'
    for username in ("casey", "dana"):
        sign_in(client, username)
        page = client.get(f"/demand/{duplicate_id}").text
        assert link in page and "Declined" not in page, username
        client.cookies.clear()
        shown = client.get(f"/api/v1/demands/{duplicate_id}", headers=headers[username]).json()
        assert (shown["state"], shown["merged_into"]) == ("merged", need_id)
    sign_in(client, "casey")
    assert link in client.get("/demand").text, "its author finds it in the list"

    client.cookies.clear()
    late = client.post(f"/api/v1/demands/{duplicate_id}/vote", headers=headers["dana"])
    assert late.status_code == 409 and f"merged into #{need_id}" in late.json()["detail"]
