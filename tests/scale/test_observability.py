"""What operators see: request ids followed into runs, and /metrics across a request's life."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from servicebay.core.logs import JsonFormatter
from servicebay.core.settings import Settings
from servicebay.requests.fulfilment.worker import Worker
from servicebay.requests.models import FulfilmentRun
from tests.factories import token_for
from tests.requests.support import INPUTS, owner_and_offering, requester
from tests.requests.test_worker_processes import start_worker, wait_until
from tests.scale.support import web_server

ECHO = {"kind": "plugin", "plugin": "echo"}


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Every log line written during the test, as the JSON the processes print."""
    sink = io.StringIO()
    handler = logging.StreamHandler(sink)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield sink
    root.removeHandler(handler)
    root.setLevel(level)


def entries(sink: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in sink.getvalue().splitlines()]


def sample(body: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(body):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return found.value
    return None


def test_request_id_of_a_submission_follows_into_the_log_of_its_fulfilment_run(
    db: Session,
    sessions: sessionmaker[Session],
    client: TestClient,
    settings: Settings,
    json_log: io.StringIO,
) -> None:
    _, _, offering = owner_and_offering(db, fulfilment=ECHO)
    headers = token_for(db, requester(db))
    db.commit()

    answer = client.post(
        "/api/v1/requests",
        json={"offering": offering.slug, "inputs": INPUTS},
        headers={**headers, "X-Request-ID": "trace-7f3a"},
    )
    assert answer.status_code == 201
    assert answer.headers["X-Request-ID"] == "trace-7f3a"
    Worker(sessions, settings).run_until_idle()

    with sessions() as session:
        run = session.scalars(select(FulfilmentRun)).one()
        assert (run.status, run.correlation_id) == ("succeeded", "trace-7f3a")
    run_lines = [entry for entry in entries(json_log) if entry.get("run_id") == run.id]
    assert run_lines, "the worker logged nothing about the run"
    assert all(entry["request_id"] == "trace-7f3a" for entry in run_lines)
    assert all(entry["attempt"] == 1 and entry["worker"] for entry in run_lines)
    assert any("succeeded" in str(entry["message"]) for entry in run_lines)


def test_submission_without_an_id_gets_one_that_its_run_carries(
    db: Session, sessions: sessionmaker[Session], client: TestClient, settings: Settings
) -> None:
    _, _, offering = owner_and_offering(db, fulfilment=ECHO)
    headers = token_for(db, requester(db))
    db.commit()

    answer = client.post(
        "/api/v1/requests", json={"offering": offering.slug, "inputs": INPUTS}, headers=headers
    )
    given = answer.headers["X-Request-ID"]
    assert len(given) >= 16
    with sessions() as session:
        assert session.scalars(select(FulfilmentRun.correlation_id)).one() == given


def test_metrics_follow_a_request_from_submission_to_completion(
    db: Session, sessions: sessionmaker[Session], client: TestClient, settings: Settings
) -> None:
    _, _, offering = owner_and_offering(db, fulfilment=ECHO)
    headers = token_for(db, requester(db))
    db.commit()
    submitted = {"method": "POST", "route": "/api/v1/requests", "status": "201"}
    before = sample(client.get("/metrics").text, "servicebay_http_requests_total", **submitted)

    client.post(
        "/api/v1/requests", json={"offering": offering.slug, "inputs": INPUTS}, headers=headers
    )
    waiting = client.get("/metrics").text
    assert sample(waiting, "servicebay_http_requests_total", **submitted) == (before or 0) + 1
    assert (
        sample(waiting, "servicebay_requests", offering=offering.slug, status="in_fulfilment") == 1
    )
    assert sample(waiting, "servicebay_queue_depth") == 1
    assert sample(waiting, "servicebay_fulfilment_runs", status="queued") == 1
    assert sample(
        waiting,
        "servicebay_http_request_duration_seconds_count",
        method="POST",
        route="/api/v1/requests",
    )

    Worker(sessions, settings).run_until_idle()
    done = client.get("/metrics").text
    assert sample(done, "servicebay_requests", offering=offering.slug, status="completed") == 1
    assert (
        sample(done, "servicebay_requests", offering=offering.slug, status="in_fulfilment") is None
    )
    assert sample(done, "servicebay_fulfilment_runs", status="succeeded") == 1
    assert sample(done, "servicebay_fulfilment_attempts_total", outcome="succeeded") == 1
    assert sample(done, "servicebay_queue_depth") == 0
    assert sample(done, "servicebay_queue_oldest_due_seconds") == 0
    assert sample(done, "servicebay_workers") == 0  # this app runs no worker


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_every_web_process_reports_the_sum_over_all_of_them_and_counts_worker_processes(
    sessions: sessionmaker[Session], database_url: str, tmp_path: Path
) -> None:
    with web_server(database_url, tmp_path, processes=2) as web:
        workers = [start_worker(database_url, tmp_path) for _ in range(2)]
        try:
            with httpx.Client(base_url=web.url) as http:
                before = (
                    sample(
                        http.get("/metrics").text,
                        "servicebay_http_requests_total",
                        route="/healthz",
                        status="200",
                    )
                    or 0
                )
                for _ in range(40):
                    httpx.get(f"{web.url}/healthz")  # a new connection each: either process
            assert len(web.pids_that_answered("/healthz")) == 2
            wait_until(
                lambda: _scraped(web.url, "servicebay_workers") == 2,
                timeout=20,
                what="both worker processes are counted",
            )
            for _ in range(6):  # whichever process answers the scrape
                assert (
                    _scraped(
                        web.url, "servicebay_http_requests_total", route="/healthz", status="200"
                    )
                    == before + 40
                )
        finally:
            for worker in workers:
                worker.stop()
        wait_until(
            lambda: _scraped(web.url, "servicebay_workers") == 0, timeout=20, what="none counted"
        )


def _scraped(url: str, name: str, **labels: str) -> float | None:
    return sample(httpx.get(f"{url}/metrics").text, name, **labels)
