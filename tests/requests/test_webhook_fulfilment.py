"""Webhook fulfilment through the in-process worker: answers, retries, timeouts, refusals."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from servicebay.catalog.fulfilment.webhook import Connections
from servicebay.core.settings import Settings
from servicebay.requests.fulfilment.worker import Worker
from servicebay.requests.models import Request
from tests.factories import token_for
from tests.receiver import Delivery, Receiver, Reply
from tests.requests.support import (
    SECRET,
    attempts_of,
    fast,
    log_of,
    owner_and_offering,
    requester,
    runs_of,
    status_of,
    submit,
    work_until,
)
from tests.requests.test_pages import sign_in


def test_receiver_answering_500_three_times_then_200_completes_on_attempt_4_with_backoff_logged(
    db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    failing: list[Reply] = [(500, "boom"), (500, "boom"), (500, "boom")]
    with Receiver(secret=SECRET, replies=list(failing), default=(200, {"ticket": "T-1"})) as hook:
        _, _, offering = owner_and_offering(db, fulfilment={"kind": "webhook", "url": hook.url})
        request_id = submit(db, requester(db), offering)
        worker = Worker(sessions, fast(settings))
        work_until(worker, lambda: status_of(sessions, request_id) == "completed")

    assert len(hook.deliveries) == 4
    assert all(delivery.signature_valid for delivery in hook.deliveries)
    assert {d.headers["webhook-id"] for d in hook.deliveries} == {
        str(runs_of(db, request_id)[0].id)
    }
    assert [d.body["data"]["run"]["attempt"] for d in hook.deliveries] == [1, 2, 3, 4]
    run = runs_of(db, request_id)[0]
    assert (run.status, run.attempt) == ("succeeded", 4)
    assert db.get_one(Request, request_id).outputs == {"ticket": "T-1"}
    log = log_of(db, run.id)
    assert sum("backoff: next attempt in" in line for line in log) == 3
    assert sum("receiver answered 500" in line for line in log) == 3
    attempts = attempts_of(db, run.id)
    assert [a.status for a in attempts] == ["failed", "failed", "failed", "succeeded"]
    assert all(a.finished_at is not None and a.finished_at >= a.started_at for a in attempts)


def test_hanging_receiver_times_out_records_the_attempt_and_the_next_attempt_succeeds(
    db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    released = threading.Event()

    def hang(_: Delivery) -> Reply:
        released.wait(5)
        return (200, {"late": True})

    with Receiver(secret=SECRET, replies=[hang], default=(200, {"on": "time"})) as hook:
        _, _, offering = owner_and_offering(
            db, fulfilment={"kind": "webhook", "url": hook.url, "timeout_seconds": 0.5}
        )
        request_id = submit(db, requester(db), offering)
        started = time.monotonic()
        work_until(
            Worker(sessions, fast(settings)), lambda: status_of(sessions, request_id) == "completed"
        )
        released.set()

    assert time.monotonic() - started < 4
    run = runs_of(db, request_id)[0]
    attempts = attempts_of(db, run.id)
    assert [a.status for a in attempts] == ["failed", "succeeded"]
    assert "within 0.5 s" in (attempts[0].error or "")
    assert db.get_one(Request, request_id).outputs == {"on": "time"}


def test_a_delivery_outlasting_the_lease_keeps_its_run_while_its_worker_lives(
    db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    released = threading.Event()

    def slow(_: Delivery) -> Reply:
        released.wait(10)
        return (200, {"slow": True})

    with Receiver(secret=SECRET, replies=[slow]) as hook:
        _, _, offering = owner_and_offering(db, fulfilment={"kind": "webhook", "url": hook.url})
        request_id = submit(db, requester(db), offering)
        leased = fast(settings, run_lease_seconds=0.9)
        working = threading.Thread(target=Worker(sessions, leased).run_once)
        working.start()
        deadline = time.monotonic() + 10
        while not hook.deliveries:
            assert time.monotonic() < deadline, "the delivery never came"
            time.sleep(0.02)
        # Another worker finds nothing to take for two whole leases, then the answer comes.
        other = Worker(sessions, leased)
        outlasted = time.monotonic() + 2 * leased.run_lease_seconds
        while time.monotonic() < outlasted:
            assert other.run_once() == 0
            time.sleep(0.05)
        released.set()
        working.join()

    assert len(hook.deliveries) == 1
    run = runs_of(db, request_id)[0]
    assert (run.status, run.attempt) == ("succeeded", 1)
    assert db.get_one(Request, request_id).outputs == {"slow": True}


def test_receiver_refusing_with_4xx_ends_the_run_dead_at_once_with_its_answer_logged(
    db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    with Receiver(secret=SECRET, default=(400, {"error": "unknown team"})) as hook:
        _, _, offering = owner_and_offering(db, fulfilment={"kind": "webhook", "url": hook.url})
        request_id = submit(db, requester(db), offering)
        work_until(
            Worker(sessions, fast(settings)), lambda: status_of(sessions, request_id) == "failed"
        )

    assert len(hook.deliveries) == 1
    run = runs_of(db, request_id)[0]
    assert (run.status, run.attempt) == ("dead", 1)
    assert any("400" in line and "unknown team" in line for line in log_of(db, run.id))


def test_429_and_408_are_retried_like_server_errors(
    db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    with Receiver(secret=SECRET, replies=[(429, "slow down"), (408, "late")]) as hook:
        _, _, offering = owner_and_offering(db, fulfilment={"kind": "webhook", "url": hook.url})
        request_id = submit(db, requester(db), offering)
        work_until(
            Worker(sessions, fast(settings)),
            lambda: status_of(sessions, request_id) == "completed",
        )
    assert len(hook.deliveries) == 3


def test_run_dies_after_the_offerings_maximum_attempts_and_the_request_fails(
    db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    with Receiver(secret=SECRET, default=(503, "down")) as hook:
        _, _, offering = owner_and_offering(
            db, fulfilment={"kind": "webhook", "url": hook.url, "max_attempts": 2}
        )
        request_id = submit(db, requester(db), offering)
        work_until(
            Worker(sessions, fast(settings)), lambda: status_of(sessions, request_id) == "failed"
        )
    assert len(hook.deliveries) == 2
    run = runs_of(db, request_id)[0]
    assert run.status == "dead"
    assert "all 2 attempts failed" in (run.last_error or "")


def test_webhook_to_a_private_address_is_refused_unless_allowed(
    db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    with Receiver(secret=SECRET) as hook:
        _, _, offering = owner_and_offering(db, fulfilment={"kind": "webhook", "url": hook.url})
        request_id = submit(db, requester(db), offering)
        strict = fast(settings, fulfilment_allowed_networks=[])
        work_until(Worker(sessions, strict), lambda: status_of(sessions, request_id) == "failed")
    assert hook.deliveries == []
    run = runs_of(db, request_id)[0]
    assert any("private or internal address" in line for line in log_of(db, run.id))


def test_redirects_are_not_followed(
    db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    with Receiver(secret=SECRET, default=(302, "")) as hook:
        _, _, offering = owner_and_offering(db, fulfilment={"kind": "webhook", "url": hook.url})
        request_id = submit(db, requester(db), offering)
        work_until(
            Worker(sessions, fast(settings)), lambda: status_of(sessions, request_id) == "failed"
        )
    assert len(hook.deliveries) == 1
    assert any(
        "redirects are not followed" in line for line in log_of(db, runs_of(db, request_id)[0].id)
    )


def resolve_names(monkeypatch: pytest.MonkeyPatch, names: dict[str, str]) -> None:
    """Make these host names resolve to these addresses (changing ``names`` changes them)."""
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        return real(names.get(host, host), port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_a_kept_alive_connection_is_not_used_once_the_host_resolves_to_a_private_address(
    db: Session,
    sessions: sessionmaker[Session],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    names = {"hooks.example.test": "127.0.0.1"}
    resolve_names(monkeypatch, names)
    with Receiver(secret=SECRET, keep_alive=True) as hook:
        url = hook.url.replace("127.0.0.1", "hooks.example.test")
        _, _, offering = owner_and_offering(db, fulfilment={"kind": "webhook", "url": url})
        who = requester(db)
        worker = Worker(sessions, fast(settings))
        first = submit(db, who, offering)
        work_until(worker, lambda: status_of(sessions, first) == "completed")
        names["hooks.example.test"] = "10.20.30.40"
        second = submit(db, who, offering)
        work_until(worker, lambda: status_of(sessions, second) == "failed")

    (delivery,) = hook.deliveries
    assert delivery.headers["host"] == url.split("/")[2]
    assert delivery.body["data"]["request"]["id"] == first
    run = runs_of(db, second)[0]
    assert any("resolves to 10.20.30.40" in line for line in log_of(db, run.id))


def test_deliveries_keep_a_connection_alive_per_host_name_never_shared_and_without_cookies(
    db: Session,
    sessions: sessionmaker[Session],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    resolve_names(monkeypatch, {"one.example.test": "127.0.0.1", "two.example.test": "127.0.0.1"})
    with Receiver(secret=SECRET, keep_alive=True) as hook:
        who = requester(db)
        request_ids = []
        for name in ("one.example.test", "two.example.test"):
            url = hook.url.replace("127.0.0.1", name)
            _, _, offering = owner_and_offering(db, fulfilment={"kind": "webhook", "url": url})
            request_ids += [submit(db, who, offering) for _ in range(2)]
        work_until(
            Worker(sessions, fast(settings)),
            lambda: all(status_of(sessions, rid) == "completed" for rid in request_ids),
        )

    peers: dict[str, set[tuple[str, int]]] = {}
    for delivery in hook.deliveries:
        peers.setdefault(delivery.headers["host"].split(":")[0], set()).add(delivery.peer)
    assert sorted(peers) == ["one.example.test", "two.example.test"]
    assert len(peers["one.example.test"]) == len(peers["two.example.test"]) == 1
    assert peers["one.example.test"].isdisjoint(peers["two.example.test"])
    assert all("cookie" not in delivery.headers for delivery in hook.deliveries)


def test_kept_alive_clients_beyond_the_limit_are_closed_once_no_delivery_uses_them() -> None:
    connections = Connections(limit=1)
    one = ("http", "192.0.2.1", None, "one.example.test")
    two = ("http", "192.0.2.1", None, "two.example.test")
    with connections.client(one) as first, connections.client(two) as second:
        assert first is not second
        assert not first.is_closed
    with connections.client(two) as again:
        assert again is second
        assert first.is_closed and not second.is_closed
    connections.close()
    assert second.is_closed


def test_only_the_owner_team_reads_the_webhooks_address_in_run_errors_and_logs(
    client: TestClient, db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    hidden = "http://127.0.0.1:9/internal/provision"
    _, lead, offering = owner_and_offering(
        db, fulfilment={"kind": "webhook", "url": hidden, "max_attempts": 1}
    )
    casey = requester(db)
    casey_headers, lead_headers = token_for(db, casey, ["read"]), token_for(db, lead, ["read"])
    casey_name = casey.username
    request_id = submit(db, casey, offering)
    work_until(
        Worker(sessions, fast(settings)), lambda: status_of(sessions, request_id) == "failed"
    )

    owner_view = client.get(f"/api/v1/requests/{request_id}/runs", headers=lead_headers)
    assert "127.0.0.1" in owner_view.text  # the team debugs its own hook
    consumer_view = client.get(f"/api/v1/requests/{request_id}/runs", headers=casey_headers)
    assert consumer_view.status_code == 200 and consumer_view.json()[0]["attempts"]
    assert "127.0.0.1" not in consumer_view.text and "/internal/" not in consumer_view.text
    assert "the fulfilment service" in consumer_view.text
    events = client.get(f"/api/v1/requests/{request_id}/events", headers=casey_headers)
    assert events.status_code == 200 and "127.0.0.1" not in events.text
    assert (
        "127.0.0.1"
        in client.get(f"/api/v1/requests/{request_id}/events", headers=lead_headers).text
    )
    sign_in(client, casey_name)
    page = client.get(f"/requests/{request_id}").text
    assert "127.0.0.1" not in page and "/internal/" not in page
