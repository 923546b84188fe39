"""Two web processes and three worker processes on one PostgreSQL, one of each killed midway."""

from __future__ import annotations

import os
import signal
import string
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from servicebay.requests.models import FulfilmentRun, Request
from tests.factories import token_for
from tests.receiver import Receiver
from tests.requests.support import SECRET, owner_and_offering, requester
from tests.requests.test_worker_processes import (
    completions_per_request,
    count_status,
    start_worker,
    wait_until,
)
from tests.scale.support import WebServer, web_server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]
TOTAL = 500
CLIENTS = 10
SUBMIT = "/api/v1/requests"


def marker(number: int) -> str:
    """A name the offering's form accepts ([a-z_]+) that tells submissions apart."""
    letters = ""
    while True:
        number, digit = divmod(number, 26)
        letters = string.ascii_lowercase[digit] + letters
        if number == 0:
            return f"scale_{letters}"


class Client:
    """One requester submitting its share; after a lost answer it looks before it resubmits,
    so a submission whose answer died with its web process is not made twice."""

    def __init__(self, server: WebServer, headers: dict[str, str], slug: str) -> None:
        self.http = httpx.Client(base_url=server.url, headers=headers, timeout=10.0)
        self.slug = slug
        self.lost_answers = 0

    def submit(self, name: str, acknowledged: Counter[str], lock: threading.Lock) -> None:
        body = {"offering": self.slug, "inputs": {"name": name, "size": "small"}}
        while True:
            try:
                answer = self.http.post(SUBMIT, json=body)
                if answer.status_code == 201:
                    break
                assert answer.status_code >= 500, answer.text  # 4xx would be a real bug
            except httpx.TransportError:
                pass
            self.lost_answers += 1
            threading.Event().wait(0.5)  # the killed process's transaction ends meanwhile
            if name in self.recorded_names():
                break
        with lock:
            acknowledged["submitted"] += 1

    def recorded_names(self) -> set[str]:
        while True:
            try:
                listed = self.http.get(SUBMIT)
                if listed.status_code == 200:
                    return {found["inputs"]["name"] for found in listed.json()}
            except httpx.TransportError:
                pass
            threading.Event().wait(0.2)


def test_two_web_and_three_worker_processes_complete_500_requests_exactly_once_through_kills(
    db: Session, sessions: sessionmaker[Session], database_url: str, tmp_path: Path
) -> None:
    with Receiver(secret=SECRET) as hook:
        _, _, offering = owner_and_offering(db, fulfilment={"kind": "webhook", "url": hook.url})
        slug = offering.slug
        headers = [token_for(db, requester(db), ["read", "request"]) for _ in range(CLIENTS)]
        db.commit()
        db.close()

        web_env = {"SERVICEBAY_RATE_LIMIT_SUBMIT": "100000"}
        with web_server(database_url, tmp_path, processes=2, **web_env) as web:
            workers = [start_worker(database_url, tmp_path, concurrency=2) for _ in range(3)]
            try:
                clients = [Client(web, header, slug) for header in headers]
                acknowledged: Counter[str] = Counter()
                lock = threading.Lock()
                with ThreadPoolExecutor(CLIENTS) as pool:
                    futures = [
                        pool.submit(clients[n % CLIENTS].submit, marker(n), acknowledged, lock)
                        for n in range(TOTAL)
                    ]
                    wait_until(
                        lambda: acknowledged["submitted"] >= TOTAL // 2,
                        timeout=60,
                        what="half the requests are submitted",
                    )
                    killed_web = max(web.pids_that_answered(SUBMIT))
                    os.kill(killed_web, signal.SIGKILL)
                    os.kill(workers[0].pid, signal.SIGKILL)
                    for future in futures:
                        future.result()
                wait_until(
                    lambda: count_status(sessions, "completed") == TOTAL,
                    timeout=60,
                    what="every request is completed",
                )
                assert workers[0].process.wait(timeout=5) == -signal.SIGKILL
                assert all(worker.process.poll() is None for worker in workers[1:])
            finally:
                for worker in workers:
                    worker.stop()
            answered_by = web.pids_that_answered(SUBMIT)
            assert killed_web in answered_by and len(answered_by - {killed_web}) >= 1
            assert httpx.get(f"{web.url}/healthz").status_code == 200  # a replacement serves
        deliveries = [delivery.headers["webhook-id"] for delivery in hook.deliveries]

    with sessions() as session:
        names = session.scalars(select(Request.inputs)).all()
        assert sorted(inputs["name"] for inputs in names) == sorted(map(marker, range(TOTAL)))
        assert set(completions_per_request(session).values()) == {1}
        assert len(completions_per_request(session)) == TOTAL
        runs = session.execute(
            select(FulfilmentRun.status, func.count()).group_by(FulfilmentRun.status)
        ).all()
        assert runs == [("succeeded", TOTAL)]
    assert len(set(deliveries)) == TOTAL  # every run reached the receiver
    assert len(deliveries) - TOTAL <= 2  # repeats only for what the killed worker held
