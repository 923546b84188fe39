"""What operators watch: health, readiness, metrics, request ids."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from servicebay.core.identity import Role
from servicebay.core.settings import Settings
from servicebay.portal.app import create_app
from servicebay.requests.fulfilment.worker import Worker
from tests.factories import make_offering, make_team, make_user, token_for


def test_health_and_readiness_on_a_migrated_database(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ok"}


def test_not_ready_while_migrations_are_pending(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="s" * 32)  # empty SQLite file
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
        answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["status"] == "unavailable"


def test_metrics_count_http_requests_requests_and_runs(
    client: TestClient, db: Session, settings: Settings, sessions
) -> None:
    team = make_team(db)
    lead = make_user(db, team=team, role=Role.LEAD)
    make_offering(db, team, lead, slug="db")
    headers = token_for(db, make_user(db))
    db.commit()
    client.post(
        "/api/v1/requests",
        headers=headers,
        json={"offering": "db", "inputs": {"name": "ab", "size": "small"}},
    )
    client.post(
        "/api/v1/requests",
        headers=headers,
        json={"offering": "db", "inputs": {"name": "cd", "size": "small"}},
    )
    queued = client.get("/metrics").text
    assert "servicebay_queue_depth 2.0" in queued
    Worker(sessions, settings).run_until_idle()

    text = client.get("/metrics").text
    assert 'servicebay_requests{offering="db",status="completed"} 2.0' in text
    assert 'servicebay_fulfilment_runs{status="succeeded"} 2.0' in text
    assert "servicebay_queue_depth 0.0" in text
    assert (
        'servicebay_http_requests_total{method="POST",route="/api/v1/requests",status="201"}'
        in text
    )


def test_request_id_is_echoed_or_made(client: TestClient) -> None:
    assert (
        client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"]
        == "abc-123"
    )
    made = client.get("/healthz").headers["x-request-id"]
    assert len(made) == 16
