"""The embedded default: 50 clients submitting at once to one `servicebay serve` on SQLite
(its in-process worker fulfilling them meanwhile). Counts errors and submissions a second,
and the CPU (from /proc) of the web process, its worker included, per submission; the
load generator's own CPU apart."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from pathlib import Path

from bench import cpu, load, processes
from servicebay.catalog import service as catalog_service
from servicebay.catalog.schemas import OfferingIn
from servicebay.core import clock, identity, migrations
from servicebay.core.database import make_engine, make_sessionmaker, transaction
from servicebay.core.identity import Role

BODY = json.dumps({"offering": "laptop", "inputs": {"name": "ledger", "size": "small"}})


@dataclass
class SqliteFigures:
    clients: int
    throughput: float
    p95_ms: float
    errors: int
    submissions: int
    web_peak_rss_mb: float
    web_ms: float  # CPU ms per submission of the web process (and its in-process worker)
    client_ms: float  # CPU ms per submission of the load generator


def arrange(database_url: str, clients: int) -> list[str]:
    """An offering fulfilled by the echo plugin and one requester (and token) per client."""
    migrations.upgrade(database_url)
    engine = make_engine(database_url)
    with transaction(make_sessionmaker(engine)) as session:
        team = identity.create_team(session, slug="it", name="IT")
        lead = identity.create_user(session, username="lead", password="bench-password-1")
        identity.add_member(session, user=lead, team=team, role=Role.LEAD)
        definition = OfferingIn.model_validate(
            {
                "slug": "laptop",
                "name": "Laptop",
                "summary": "A new laptop",
                "description": "A laptop, set up for you.",
                "contact": "#it",
                "runbook_url": "https://runbooks.example.com/laptop",
                "sle": {"percent": 85, "within_hours": 48},
                "owner_team": team.slug,
                "form": {
                    "fields": [
                        {"name": "name", "label": "Name", "required": True},
                        {"name": "size", "label": "Size", "required": True},
                    ]
                },
                "fulfilment": {"kind": "plugin", "plugin": "echo"},
            }
        )
        offering = catalog_service.create_offering(session, actor=lead, definition=definition)
        version = catalog_service.head_version(session, offering)
        version.dry_run_status, version.dry_run_at = "passed", clock.now()
        session.flush()
        catalog_service.publish(session, actor=lead, offering=offering)
        tokens = []
        for number in range(clients):
            user = identity.create_user(
                session, username=f"requester{number}", password="bench-password-1"
            )
            identity.add_member(session, user=user, team=team, role=Role.MEMBER)
            tokens.append(identity.create_token(session, user=user, name="bench").value)
    engine.dispose()
    return tokens


def submit(token: str) -> load.Call:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def call(connection: http.client.HTTPConnection, number: int) -> int:
        connection.request("POST", "/api/v1/requests", body=BODY, headers=headers)
        answer = connection.getresponse()
        answer.read()
        return answer.status

    return call


def measure(data_dir: Path, *, runs: int, seconds: float, clients: int = 50) -> SqliteFigures:
    data_dir.mkdir(parents=True, exist_ok=True)
    database_url = f"sqlite:///{data_dir / 'servicebay.db'}"
    tokens = arrange(database_url, clients)
    samples = []
    with processes.web(database_url, data_dir, with_worker=True) as server:
        meter = cpu.Meter(web=cpu.fixed(server.pid), client=cpu.me())
        with meter.measure() as cost:
            for _ in range(runs):
                samples.append(
                    load.run(
                        server.url,
                        lambda n: submit(tokens[n]),
                        clients=clients,
                        seconds=seconds,
                        ok=lambda status: status == 201,
                    )
                )
        peak = processes.peak_rss_mb(server.pid)
    submissions = sum(len(s.latencies) for s in samples)
    return SqliteFigures(
        clients=clients,
        throughput=load.median([s.throughput for s in samples]),
        p95_ms=load.median([s.p95_ms for s in samples]),
        errors=sum(s.errors for s in samples),
        submissions=submissions,
        web_peak_rss_mb=peak,
        web_ms=cost.ms_per("web", submissions),
        client_ms=cost.ms_per("client", submissions),
    )
