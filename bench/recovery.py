"""Recovery: how soon the runs of a killed worker start again, on PostgreSQL.

Three `servicebay worker` processes (default settings: 30 s lease, 5 s dead-after) deliver
webhooks to a local receiver that takes half a second to answer each; every few seconds one of
them holding runs is killed with SIGKILL and a new one is started in its place, 20 times. For
every attempt a kill left behind, the time from the kill to the start of the run's next
attempt is measured; the report gives p50, p95 and max, and checks that every request
completed exactly once. A run caught by three kills is parked as dead (the guard against
a run that kills its workers), so the report counts failed requests too.

    .venv/bin/python -m bench.recovery [--kills 20] [--requests 1000] [--dead-after S]
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import click
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bench import fulfilment, processes
from servicebay.core import clock
from servicebay.core.database import make_engine, make_sessionmaker, transaction
from servicebay.core.events import Event
from servicebay.core.identity import User
from servicebay.requests import service
from servicebay.requests.models import FulfilmentRun, Request, RunAttempt

DATABASE = "servicebay_bench_recovery"
WORKERS = 3
CONCURRENCY = 4
ANSWER_SECONDS = 0.5


@dataclass
class RecoveryFigures:
    kills: int
    orphans: int
    restart_p50_s: float
    restart_p95_s: float
    restart_max_s: float
    completed: int
    failed: int
    completed_twice: int
    seconds: float


class SlowReceiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        time.sleep(ANSWER_SECONDS)
        body = b'{"outputs": {"received": true}}'
        try:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the worker that called was killed

    def log_message(self, format: str, *args: object) -> None:
        pass


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure(
    kills: int = 20, requests: int = 1000, every: float = 2.5, dead_after: float | None = None
) -> RecoveryFigures:
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), SlowReceiver)
    receiver.daemon_threads = True
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hook_url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    with processes.scratch_postgres(DATABASE) as url, tempfile.TemporaryDirectory() as data:
        slug, user_id = fulfilment.arrange(url, hook_url)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        with transaction(sessions) as session:
            who = session.get_one(User, user_id)
            for _ in range(requests):
                service.submit(session, actor=who, offering_slug=slug, inputs=fulfilment.INPUTS)
        extra = {"SERVICEBAY_WORKER_DEAD_AFTER_SECONDS": f"{dead_after}"} if dead_after else {}
        env = processes.environment(url, Path(data), **extra)
        command = [str(processes.BIN / "servicebay"), "worker", "--concurrency", str(CONCURRENCY)]

        def start() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )

        began = time.monotonic()
        running = [start() for _ in range(WORKERS)]
        killed_at: dict[int, datetime] = {}
        try:
            for _ in range(kills):
                time.sleep(every)
                busy = _busy_pids(sessions)
                while not busy & {process.pid for process in running}:
                    time.sleep(0.1)  # a worker still starting holds no run to orphan
                    busy = _busy_pids(sessions)
                victim = random.choice([process for process in running if process.pid in busy])
                running.remove(victim)
                os.kill(victim.pid, signal.SIGKILL)
                killed_at[victim.pid] = clock.now()
                victim.wait()
                running.append(start())
            deadline = time.monotonic() + 300
            while _ended(sessions) < requests and time.monotonic() < deadline:
                time.sleep(0.5)
            seconds = time.monotonic() - began
        finally:
            for process in running:
                process.send_signal(signal.SIGTERM)
            for process in running:
                process.wait(timeout=30)
            receiver.shutdown()

        with sessions() as session:
            attempts = session.execute(
                select(
                    RunAttempt.run_id,
                    RunAttempt.attempt,
                    RunAttempt.worker,
                    RunAttempt.status,
                    RunAttempt.started_at,
                )
            ).all()
            failed = session.scalar(
                select(func.count(Request.id)).where(Request.status == "failed")
            )
            completions = Counter(
                session.scalars(select(Event.request_id).where(Event.type == "request.completed"))
            )
        engine.dispose()

    started = {(run_id, attempt): at for run_id, attempt, _, _, at in attempts}
    restarts = []
    for run_id, attempt, worker, status, _ in attempts:
        if status != "lease_expired":
            continue
        kill = killed_at.get(int(worker.split(":")[1]))
        after = started.get((run_id, attempt + 1))
        if kill is not None and after is not None:
            restarts.append((after - kill).total_seconds())
    return RecoveryFigures(
        kills=kills,
        orphans=len(restarts),
        restart_p50_s=percentile(restarts, 0.50) if restarts else float("nan"),
        restart_p95_s=percentile(restarts, 0.95) if restarts else float("nan"),
        restart_max_s=max(restarts, default=float("nan")),
        completed=len(completions),
        failed=int(failed or 0),
        completed_twice=sum(1 for count in completions.values() if count > 1),
        seconds=seconds,
    )


def _busy_pids(sessions: sessionmaker[Session]) -> set[int]:
    """The worker processes holding a run."""
    with sessions() as session:
        owners = session.scalars(
            select(FulfilmentRun.lease_owner).where(FulfilmentRun.status == "running").distinct()
        )
        return {int(owner.split(":")[1]) for owner in owners if owner}


def _ended(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        ended = Request.status.in_(("completed", "failed"))
        return int(session.scalar(select(func.count(Request.id)).where(ended)) or 0)


@click.command()
@click.option("--kills", default=20, show_default=True)
@click.option("--requests", "request_count", default=1000, show_default=True)
@click.option("--every", default=2.5, show_default=True, help="Seconds between kills.")
@click.option(
    "--dead-after",
    type=float,
    default=None,
    help="SERVICEBAY_WORKER_DEAD_AFTER_SECONDS of the workers (default: theirs, 5 s); "
    "a value longer than the lease shows recovery by the lease alone, as before heartbeats.",
)
def main(kills: int, request_count: int, every: float, dead_after: float | None) -> None:
    figures = measure(kills=kills, requests=request_count, every=every, dead_after=dead_after)
    print(
        f"| kills | orphaned attempts | kill to restart p50 | p95 | max "
        f"| completed | completed twice | failed | seconds |\n"
        f"|{' --- |' * 9}\n"
        f"| {figures.kills} | {figures.orphans} | {figures.restart_p50_s:.1f} s "
        f"| {figures.restart_p95_s:.1f} s | {figures.restart_max_s:.1f} s "
        f"| {figures.completed} | {figures.completed_twice} | {figures.failed} "
        f"| {figures.seconds:.0f} |"
    )


if __name__ == "__main__":
    main()
