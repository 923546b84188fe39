"""A web process killed in the middle of an idempotent submission: the client's retry
with the same Idempotency-Key is submitted at once, and exactly one request exists."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from servicebay.core.identity import Role
from servicebay.requests.models import Request
from tests.conftest import TEST_SECRET_KEY
from tests.factories import make_offering, make_team, make_user, token_for
from tests.requests.support import INPUTS
from tests.servers import free_port

pytestmark = pytest.mark.slow

SERVICEBAY = Path(sys.executable).with_name("servicebay")


def test_a_retry_after_the_web_process_died_mid_submission_succeeds_at_once_and_once(
    client: TestClient,
    db: Session,
    sessions: sessionmaker[Session],
    database_url: str,
    tmp_path: Path,
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("several web processes share one database on PostgreSQL")
    owners = make_team(db)
    offering = make_offering(
        db,
        owners,
        make_user(db, team=owners, role=Role.LEAD),
        quota={"count": 100, "period_days": 30},
    )
    requesters = make_team(db)
    headers = {
        **token_for(db, make_user(db, team=requesters)),
        "Idempotency-Key": "order-7",
    }
    body = {"offering": offering.slug, "inputs": INPUTS}
    db.commit()

    with sessions() as holder, ThreadPoolExecutor(max_workers=1) as pool:
        # The quota check of the submission queues on this lock: the web process is
        # stopped there, after its key is reserved and before anything is committed.
        holder.execute(
            text("SELECT pg_advisory_xact_lock(:offering, :team)"),
            {"offering": offering.id, "team": requesters.id},
        )
        port = free_port()
        server = start_server(database_url, port, tmp_path)
        try:
            url = f"http://127.0.0.1:{port}"
            first = pool.submit(httpx.post, url + "/api/v1/requests", headers=headers, json=body)
            wait_for_a_lock_waiter(holder, server)
            server.kill()
        finally:
            server.kill()
            server.wait(timeout=15)
        with pytest.raises(httpx.TransportError):
            first.result(timeout=30)
        holder.commit()

    retry = client.post("/api/v1/requests", headers=headers, json=body)
    assert retry.status_code == 201, retry.text
    assert "Idempotent-Replayed" not in retry.headers
    again = client.post("/api/v1/requests", headers=headers, json=body)
    assert again.json()["id"] == retry.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    with sessions() as session:
        assert session.scalar(select(func.count(Request.id))) == 1


def start_server(database_url: str, port: int, data_dir: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SERVICEBAY_DATABASE_URL": database_url,
        "SERVICEBAY_DATA_DIR": str(data_dir),
        "SERVICEBAY_SECRET_KEY": TEST_SECRET_KEY,
        "SERVICEBAY_BASE_URL": f"http://127.0.0.1:{port}",
    }
    log = (data_dir / "server.log").open("w")
    server = subprocess.Popen(
        [str(SERVICEBAY), "serve", "--port", str(port), "--no-worker"],
        env=env,
        cwd=data_dir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while True:
        assert server.poll() is None, (data_dir / "server.log").read_text()
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz")
            return server
        except httpx.ConnectError:
            assert time.monotonic() < deadline, "the server never answered"
            time.sleep(0.05)


def wait_for_a_lock_waiter(session: Session, server: subprocess.Popen[bytes]) -> None:
    """Until another connection (the web process's submission) waits for our lock."""
    deadline = time.monotonic() + 30
    waiting = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    while not session.execute(waiting).scalar():
        assert server.poll() is None, "the web process ended by itself"
        assert time.monotonic() < deadline, "the submission never reached the quota check"
        time.sleep(0.02)
