"""Fulfilment: runs per second with 1, 2 and 4 worker processes, and submission-to-webhook
latency, on PostgreSQL, against a local receiver.

The baseline is a bare HTTP client posting the same kind of body to the same receiver
with as many threads as the workers have slots in all (4), measured in the same run.

CPU per run: the CPU time (from /proc) of the worker processes, their PostgreSQL
backends and the receiver during the timed rounds, over the runs; the benchmark's own
process and backends (which submit the rounds and count what succeeded) apart. CPU per
bare post: the receiver's and the bare client's, over the posts.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from bench import cpu, load, processes
from servicebay.catalog import service as catalog_service
from servicebay.catalog.schemas import OfferingIn
from servicebay.core import clock, crypto, identity, migrations
from servicebay.core.database import make_engine, make_sessionmaker, transaction
from servicebay.core.identity import Role, User
from servicebay.requests import service
from servicebay.requests.fulfilment.worker import WORKER_APPLICATION
from servicebay.requests.models import FulfilmentRun

INPUTS = {"name": "ledger", "size": "small"}
WEBHOOK_SECRET = "whsec_c2VydmljZWJheS1iZW5jaC1zZWNyZXQ="
BASELINE_THREADS = 4
WORKER_COUNTS = (1, 2, 4)
DEFAULT_CONCURRENCY = 4  # `servicebay worker --concurrency`


@dataclass
class FulfilmentFigures:
    baseline_per_second: float
    # By (threads per worker, worker processes): one thread each, and the default.
    runs_per_second: dict[tuple[int, int], float]
    busy: dict[tuple[int, int], float]  # share of the machine's CPU time in use meanwhile
    # CPU seconds per group ("workers", "postgres", "receiver", "bench", "bench postgres")
    cost: dict[tuple[int, int], cpu.Cost]
    baseline_posts: int
    baseline_cost: cpu.Cost  # "receiver", "client"
    runs_per_round: int
    runs: int  # timed rounds per figure
    latency_p95_ms: float
    latency_p50_ms: float
    latency_samples: int
    worker_peak_rss_mb: float


PIPELINE_SLUG = "bench-pipeline"
PIPELINE_STEPS = 3


def pipeline_spec(hook_url: str) -> dict[str, Any]:
    """Three webhook steps at the receiver; the later ones are given earlier outputs."""
    return {
        "kind": "pipeline",
        "steps": [
            {
                "name": "provision",
                "kind": "webhook",
                "url": f"{hook_url}/provision",
                "outputs": ["received"],
                "params": {"database": "db-{{ inputs.name }}"},
            },
            {
                "name": "register",
                "kind": "webhook",
                "url": f"{hook_url}/register",
                "outputs": ["received"],
                "params": {"provisioned": "{{ steps.provision.outputs.received }}"},
            },
            {
                "name": "hand_over",
                "kind": "webhook",
                "url": f"{hook_url}/hand-over",
                "params": {"registered": "{{ steps.register.outputs.received }}"},
            },
        ],
    }


def arrange(database_url: str, hook_url: str) -> tuple[str, int]:
    """An offering whose webhook is the receiver, a three-step pipeline offering
    (``PIPELINE_SLUG``) whose steps all call the receiver, and a requester; returns (slug
    of the one-step offering, user id)."""
    migrations.upgrade(database_url)
    crypto.configure(processes.SECRET_KEY)
    engine = make_engine(database_url)
    with transaction(make_sessionmaker(engine)) as session:
        team = identity.create_team(session, slug="platform", name="Platform")
        lead = identity.create_user(session, username="lead", password="bench-password-1")
        identity.add_member(session, user=lead, team=team, role=Role.LEAD)
        who = identity.create_user(session, username="requester", password="bench-password-1")
        identity.add_member(session, user=who, team=team, role=Role.MEMBER)
        slug = _published(
            session,
            lead,
            team.slug,
            "bench-hook",
            "Benchmark hook",
            {"kind": "webhook", "url": hook_url},
        )
        _published(
            session, lead, team.slug, PIPELINE_SLUG, "Benchmark pipeline", pipeline_spec(hook_url)
        )
        result = (slug, who.id)
    engine.dispose()
    return result


def _published(
    session: Session, lead: User, team: str, slug: str, name: str, spec: dict[str, Any]
) -> str:
    definition = OfferingIn.model_validate(
        {
            "slug": slug,
            "name": name,
            "summary": "Calls the local receiver",
            "description": "Calls the local receiver.",
            "contact": "#bench",
            "runbook_url": "https://runbooks.example.com/bench",
            "sle": {"percent": 85, "within_hours": 48},
            "owner_team": team,
            "form": {
                "fields": [
                    {"name": "name", "label": "Name", "required": True},
                    {"name": "size", "label": "Size", "required": True},
                ]
            },
            "fulfilment": spec,
            "webhook_secret": WEBHOOK_SECRET,
        }
    )
    offering = catalog_service.create_offering(session, actor=lead, definition=definition)
    version = catalog_service.head_version(session, offering)
    version.dry_run_status, version.dry_run_at = "passed", clock.now()
    session.flush()
    catalog_service.publish(session, actor=lead, offering=offering)
    return offering.slug


def bare_client_rate(hook_url: str, seconds: float) -> float:
    return bare_client_posts(hook_url, seconds) / seconds


def bare_client_posts(hook_url: str, seconds: float) -> int:
    body = json.dumps({"type": "request.fulfil", "data": {"request": {"id": 0}}, "pad": "x" * 400})
    calls = [0] * BASELINE_THREADS
    deadline = time.perf_counter() + seconds

    def post(slot: int) -> None:
        with httpx.Client() as client:
            while time.perf_counter() < deadline:
                client.post(hook_url, content=body, headers={"content-type": "application/json"})
                calls[slot] += 1

    threads = [threading.Thread(target=post, args=(n,)) for n in range(BASELINE_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(calls)


def connected_workers(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        found = session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE application_name = :name AND datname = current_database()"
            ),
            {"name": WORKER_APPLICATION},
        )
        return int(found or 0)


def round_of_runs(sessions: sessionmaker[Session], slug: str, user_id: int, count: int) -> float:
    """Submit ``count`` requests in one commit; seconds until every run has succeeded."""
    with sessions() as session:
        before = _succeeded(session)
    with transaction(sessions) as session:
        who = session.get_one(User, user_id)
        for _ in range(count):
            service.submit(session, actor=who, offering_slug=slug, inputs=INPUTS)
    started = time.perf_counter()
    while True:
        with sessions() as session:
            if _succeeded(session) >= before + count:
                return time.perf_counter() - started
        time.sleep(0.02)


def _succeeded(session: Session) -> int:
    return (
        session.scalar(
            select(func.count(FulfilmentRun.id)).where(FulfilmentRun.status == "succeeded")
        )
        or 0
    )


def measure(
    database_url: str,
    data_dir: Path,
    *,
    runs: int,
    seconds: float,
    runs_per_round: int,
    latency_samples: int,
    concurrencies: tuple[int, ...] = (1, DEFAULT_CONCURRENCY),
) -> FulfilmentFigures:
    with processes.receiver() as hook:
        hook_url = f"{hook.url}/hook"
        slug, user_id = arrange(database_url, hook_url)
        engine = make_engine(database_url, connect_args=cpu.bench_connect_args(database_url))
        sessions = make_sessionmaker(engine)
        bare = cpu.Meter(receiver=cpu.fixed(hook.pid), client=cpu.me())
        with bare.measure() as baseline_cost:
            posts = [bare_client_posts(hook_url, seconds) for _ in range(runs)]
        baselines = [count / seconds for count in posts]
        rates: dict[tuple[int, int], float] = {}
        busy: dict[tuple[int, int], float] = {}
        costs: dict[tuple[int, int], cpu.Cost] = {}
        peak = 0.0
        for concurrency in concurrencies:
            for count in WORKER_COUNTS:
                with processes.workers(database_url, data_dir, count, concurrency) as pids:
                    _wait(
                        lambda n=count: connected_workers(sessions) == n, f"{count} workers connect"
                    )
                    round_of_runs(sessions, slug, user_id, min(50, runs_per_round))  # warm-up
                    meter = cpu.Meter(
                        workers=cpu.fixed(*pids),
                        postgres=cpu.postgres_backends(database_url),
                        receiver=cpu.fixed(hook.pid),
                        bench=cpu.me(),
                        bench_postgres=cpu.postgres_backends(database_url, bench=True),
                    )
                    before = load.cpu_times()
                    with meter.measure() as costs[concurrency, count]:
                        took = [
                            round_of_runs(sessions, slug, user_id, runs_per_round)
                            for _ in range(runs)
                        ]
                    busy[concurrency, count] = load.busy_share(before, load.cpu_times())
                    rates[concurrency, count] = runs_per_round / load.median(took)
                    peak = max([peak, *(processes.peak_rss_mb(pid) for pid in pids)])
                _wait(lambda: connected_workers(sessions) == 0, "workers leave")
        p95s, p50s = [], []
        with processes.web(database_url, data_dir) as server:
            token = _token(sessions, user_id)
            with processes.workers(database_url, data_dir, 1, DEFAULT_CONCURRENCY):
                _wait(lambda: connected_workers(sessions) == 1, "a worker connects")
                for _ in range(runs):
                    latencies = submission_to_webhook(
                        server.url, hook.url, token, slug, latency_samples
                    )
                    p95s.append(load.percentile(latencies, 95) * 1000)
                    p50s.append(load.percentile(latencies, 50) * 1000)
        engine.dispose()
    return FulfilmentFigures(
        baseline_per_second=load.median(baselines),
        runs_per_second=rates,
        busy=busy,
        cost=costs,
        baseline_posts=sum(posts),
        baseline_cost=baseline_cost,
        runs_per_round=runs_per_round,
        runs=runs,
        latency_p95_ms=load.median(p95s),
        latency_p50_ms=load.median(p50s),
        latency_samples=latency_samples,
        worker_peak_rss_mb=peak,
    )


def submission_to_webhook(
    web_url: str, hook_url: str, token: str, slug: str, samples: int
) -> list[float]:
    """One submission at a time through the API; seconds from sending it to its webhook."""
    headers = {"Authorization": f"Bearer {token}"}
    sent: dict[str, float] = {}
    with httpx.Client(base_url=web_url, headers=headers, timeout=10) as client:
        httpx.delete(f"{hook_url}/arrivals")
        for _ in range(samples):
            began = time.time()
            answer = client.post("/api/v1/requests", json={"offering": slug, "inputs": INPUTS})
            answer.raise_for_status()
            sent[str(answer.json()["id"])] = began
            time.sleep(0.05)
        deadline = time.monotonic() + 30
        while True:
            arrivals: dict[str, Any] = httpx.get(f"{hook_url}/arrivals").json()
            if all(key in arrivals for key in sent) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    return [arrivals[key] - began for key, began in sent.items() if key in arrivals]


def _token(sessions: sessionmaker[Session], user_id: int) -> str:
    with transaction(sessions) as session:
        user = session.get_one(User, user_id)
        return identity.create_token(session, user=user, name="bench", scopes=["request"]).value


def _wait(check: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting until {what}")
        time.sleep(0.1)
