"""Real `servicebay worker` processes on PostgreSQL: killed, paused, poisoned, many, and a
database restart. Each test starts and stops its own worker processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from servicebay.core import clock
from servicebay.core.events import Event
from servicebay.core.identity import User
from servicebay.requests import service
from servicebay.requests.fulfilment.engine import MAX_RESCUES
from servicebay.requests.models import FulfilmentRun, Request, RunAttempt, RunLogLine
from tests.receiver import Delivery, Receiver, Reply
from tests.requests.support import (
    SECRET,
    attempts_of,
    log_of,
    owner_and_offering,
    requester,
    runs_of,
    status_of,
    submit,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]
SERVICEBAY = str(Path(sys.executable).parent / "servicebay")


class WorkerProcess:
    def __init__(self, process: subprocess.Popen[bytes], log: Path) -> None:
        self.process = process
        self.log = log

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 15.0) -> None:
        wait_until(lambda: text in self.output(), timeout=timeout, what=f"worker said {text!r}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def workers(
    database_url: str, tmp_path: Path, count: int = 1, **env: str
) -> Iterator[list[WorkerProcess]]:
    started = [start_worker(database_url, tmp_path, **env) for _ in range(count)]
    try:
        yield started
    finally:
        for worker in started:
            worker.stop()


def start_worker(
    database_url: str, tmp_path: Path, *, concurrency: int = 1, **env: str
) -> WorkerProcess:
    log = tmp_path / f"worker-{time.monotonic_ns()}.log"
    environment = {
        **os.environ,
        "SERVICEBAY_DATABASE_URL": database_url,
        "SERVICEBAY_DATA_DIR": str(tmp_path),
        "SERVICEBAY_SECRET_KEY": "test-secret-key-not-for-production",
        "SERVICEBAY_BASE_URL": "http://testserver",
        "SERVICEBAY_FULFILMENT_ALLOWED_NETWORKS": json.dumps(["127.0.0.0/8"]),
        "SERVICEBAY_RUN_LEASE_SECONDS": "2.5",
        "SERVICEBAY_WORKER_POLL_SECONDS": "0.2",
        "SERVICEBAY_RETRY_BASE_SECONDS": "0.1",
        **env,
    }
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [SERVICEBAY, "worker", "--concurrency", str(concurrency)],
            env=environment,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    return WorkerProcess(process, log)


def wait_until(check: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


def count_status(sessions: sessionmaker[Session], status: str) -> int:
    with sessions() as session:
        return session.scalar(select(func.count(Request.id)).where(Request.status == status)) or 0


def completions_per_request(session: Session) -> Counter[int | None]:
    rows = session.scalars(select(Event.request_id).where(Event.type == "request.completed"))
    return Counter(rows)


class HangingFirstDelivery:
    """A receiver policy: the first delivery of each webhook-id hangs until released."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        self.in_call = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()

    def __call__(self, delivery: Delivery) -> Reply:
        webhook_id = delivery.headers["webhook-id"]
        with self.lock:
            self.seen[webhook_id] += 1
            first = self.seen[webhook_id] == 1
        if first:
            self.in_call.set()
            self.release.wait(30)
            return (200, {"by": "first"})
        return (200, {"by": "later"})


def always(policy: HangingFirstDelivery, count: int) -> list[Reply | Callable[[Delivery], Reply]]:
    return [policy] * count


def test_worker_killed_mid_webhook_20_times_loses_nothing_and_each_orphan_restarts_soon(
    db: Session, sessions: sessionmaker[Session], database_url: str, tmp_path: Path
) -> None:
    """Each kill leaves a run mid-call; the next worker, already running, takes it over
    once the killed worker's heartbeat is old (5 s by default), long before its lease
    (60 s here) would run out."""
    policy = HangingFirstDelivery()
    long_lease = {"SERVICEBAY_RUN_LEASE_SECONDS": "60"}
    killed_at: dict[int, datetime] = {}  # pid -> when it was killed
    started = []
    with Receiver(secret=SECRET, replies=always(policy, 100)) as hook:
        # The hanging calls outlast a loaded machine's worker start-up.
        fulfilment = {"kind": "webhook", "url": hook.url, "timeout_seconds": 120}
        _, _, offering = owner_and_offering(db, fulfilment=fulfilment)
        who = requester(db)
        request_ids: list[int] = []
        current = start_worker(database_url, tmp_path, concurrency=3, **long_lease)
        started.append(current)
        try:
            for done in range(20):
                policy.in_call.clear()
                request_ids.append(submit(db, who, offering))
                db.close()
                assert policy.in_call.wait(30), current.output()
                successor = start_worker(database_url, tmp_path, concurrency=3, **long_lease)
                started.append(successor)
                # The previous orphan is taken over by the current worker, not killed with it.
                wait_until(
                    lambda done=done: count_status(sessions, "completed") == done,
                    timeout=30,
                    what="the previous orphan completes",
                )
                successor.wait_for_output("listening for new runs", timeout=30)
                os.kill(current.pid, signal.SIGKILL)
                killed_at[current.pid] = clock.now()
                current.process.wait(timeout=10)
                current = successor
            wait_until(
                lambda: count_status(sessions, "completed") == 20, timeout=30, what="all complete"
            )
        finally:
            policy.release.set()  # the killed calls' handlers write into closed sockets
            for worker in started:
                worker.stop()

    with sessions() as session:
        assert completions_per_request(session) == Counter({rid: 1 for rid in request_ids})
        for request_id in request_ids:
            (run,) = runs_of(session, request_id)
            assert run.status == "succeeded"
            assert session.get_one(Request, request_id).outputs == {"by": "later"}
            assert any("heartbeat missed" in line for line in log_of(session, run.id))
            orphaned, restarted = attempts_of(session, run.id)
            assert (orphaned.status, restarted.status) == ("lease_expired", "succeeded")
            kill = killed_at[int(orphaned.worker.split(":")[1])]
            # A bound on the behaviour (the lease alone would take 60 s), not a timing.
            assert (restarted.started_at - kill).total_seconds() < 10
    assert sum(policy.seen.values()) == 40
    assert max(policy.seen.values()) == 2  # one repeat of a webhook-id per kill, no more


def test_paused_worker_resuming_after_another_finished_the_run_changes_nothing(
    db: Session, sessions: sessionmaker[Session], database_url: str, tmp_path: Path
) -> None:
    policy = HangingFirstDelivery()
    with Receiver(secret=SECRET, replies=always(policy, 5)) as hook:
        _, _, offering = owner_and_offering(db, fulfilment={"kind": "webhook", "url": hook.url})
        request_id = submit(db, requester(db), offering)
        db.close()
        # The lease outlasts the test: the run is taken over because the paused worker's
        # heartbeat stopped.
        long_lease = {"SERVICEBAY_RUN_LEASE_SECONDS": "120"}
        with workers(database_url, tmp_path, **long_lease) as (zombie,):
            assert policy.in_call.wait(20), zombie.output()
            zombie.process.send_signal(signal.SIGSTOP)
            with workers(database_url, tmp_path, **long_lease) as _rescuer:
                wait_until(
                    lambda: status_of(sessions, request_id) == "completed",
                    timeout=20,
                    what="the second worker completes the run",
                )
            policy.release.set()
            zombie.process.send_signal(signal.SIGCONT)
            zombie.wait_for_output("was fenced off")

    with sessions() as session:
        request = session.get_one(Request, request_id)
        assert request.outputs == {"by": "later"}
        assert completions_per_request(session)[request_id] == 1
        (run,) = runs_of(session, request_id)
        assert (run.status, run.attempt) == ("succeeded", 2)
        assert [a.status for a in attempts_of(session, run.id)] == ["lease_expired", "succeeded"]
        assert any("heartbeat missed" in line for line in log_of(session, run.id))


POISON_PLUGIN = """
import os
import signal

from pydantic import BaseModel

from servicebay.catalog.fulfilment.plugins import Outcome


class Poison:
    class Settings(BaseModel):
        flag: str

    def fulfil(self, context, settings):
        if os.path.exists(settings.flag):
            os.kill(os.getpid(), signal.SIGKILL)
        return Outcome.succeeded({"survived": True})
"""


def install_poison_plugin(folder: Path) -> None:
    """A plugin distribution found through its entry point, as pip would install it."""
    folder.mkdir()
    (folder / "poison_plugin.py").write_text(POISON_PLUGIN)
    dist_info = folder / "poison_plugin-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: poison-plugin\nVersion: 1.0\n"
    )
    (dist_info / "entry_points.txt").write_text(
        "[servicebay.fulfilment]\npoison = poison_plugin:Poison\n"
    )


def test_run_that_kills_every_worker_is_parked_dead_after_bounded_rescues_and_retried_by_hand(
    db: Session,
    sessions: sessionmaker[Session],
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    install_poison_plugin(tmp_path / "plugins")
    # The catalog checks the plugin's settings when the offering is saved, here too.
    monkeypatch.syspath_prepend(str(tmp_path / "plugins"))
    flag = tmp_path / "poisoned"
    flag.touch()
    _, lead, offering = owner_and_offering(
        db, fulfilment={"kind": "plugin", "plugin": "poison", "settings": {"flag": str(flag)}}
    )
    request_id = submit(db, requester(db), offering)
    lead_id = lead.id
    db.close()
    env = {"PYTHONPATH": str(tmp_path / "plugins")}

    deaths = 0
    survivor = None
    while status_of(sessions, request_id) != "failed":
        assert deaths <= MAX_RESCUES, "the poison run was never parked"
        worker = start_worker(database_url, tmp_path, **env)
        try:
            worker.process.wait(timeout=15)
            deaths += 1
        except subprocess.TimeoutExpired:
            survivor = worker  # it parked the run instead of dying
            break
    try:
        assert survivor is not None
        wait_until(lambda: status_of(sessions, request_id) == "failed", timeout=10, what="failed")
        assert deaths == MAX_RESCUES
        with sessions() as session:
            (run,) = runs_of(session, request_id)
            assert run.status == "dead"
            assert f"rescued from {MAX_RESCUES} stopped workers" in (run.last_error or "")

        flag.unlink()  # the cause is fixed; the owner team retries by hand
        with sessions.begin() as session:
            owner = session.get_one(User, lead_id)
            service.retry(session, actor=owner, request_id=request_id)
        wait_until(
            lambda: status_of(sessions, request_id) == "completed", timeout=15, what="retried"
        )
    finally:
        if survivor is not None:
            survivor.stop()
    with sessions() as session:
        assert session.get_one(Request, request_id).outputs == {"survived": True}
        assert [r.status for r in runs_of(session, request_id)] == ["dead", "succeeded"]


def test_a_thousand_requests_through_four_worker_processes_complete_exactly_once(
    db: Session, sessions: sessionmaker[Session], database_url: str, tmp_path: Path
) -> None:
    _, _, offering = owner_and_offering(db, fulfilment={"kind": "plugin", "plugin": "echo"})
    who = requester(db)
    db.commit()

    with workers(database_url, tmp_path, count=4, concurrency=4, SERVICEBAY_RUN_LEASE_SECONDS="10"):
        for _ in range(10):  # in batches, so the workers start while requests arrive
            for _ in range(100):
                service.submit(
                    db,
                    actor=who,
                    offering_slug=offering.slug,
                    inputs={"name": "a", "size": "small"},
                )
            db.commit()
        db.close()
        wait_until(
            lambda: count_status(sessions, "completed") == 1000, timeout=120, what="1000 complete"
        )

    with sessions() as session:
        assert count_status(sessions, "completed") == 1000
        assert set(completions_per_request(session).values()) == {1}
        assert session.scalar(select(func.max(FulfilmentRun.attempt))) == 1
        attempts = session.execute(select(RunAttempt.run_id, RunAttempt.worker)).all()
        assert len(attempts) == 1000 and len({run_id for run_id, _ in attempts}) == 1000
        assert len({worker for _, worker in attempts}) == 4  # every process took a share
        expired = select(func.count(RunLogLine.id)).where(RunLogLine.message.like("lease expired%"))
        assert session.scalar(expired) == 0


@pytest.mark.exclusive
def test_workers_recover_by_themselves_when_postgresql_restarts(
    db: Session, sessions: sessionmaker[Session], database_url: str, tmp_path: Path
) -> None:
    def slow_ok(_: Delivery) -> Reply:
        time.sleep(0.2)
        return (200, {"ok": True})

    with Receiver(secret=SECRET, replies=[slow_ok] * 200) as hook:
        _, _, offering = owner_and_offering(db, fulfilment={"kind": "webhook", "url": hook.url})
        who = requester(db)
        request_ids = [submit(db, who, offering) for _ in range(60)]
        db.close()
        with workers(database_url, tmp_path, count=2, concurrency=2):
            wait_until(
                lambda: count_status(sessions, "completed") >= 10, timeout=30, what="some done"
            )
            done_before = count_status(sessions, "completed")
            restart_postgresql()
            sessions.kw["bind"].dispose()
            wait_until(
                lambda: _completed_or_none(sessions) == 60, timeout=45, what="all 60 complete"
            )

    assert done_before < 50  # most of the work was done after the restart
    with sessions() as session:
        assert completions_per_request(session) == Counter({rid: 1 for rid in request_ids})


def _completed_or_none(sessions: sessionmaker[Session]) -> int | None:
    try:
        return count_status(sessions, "completed")
    except Exception:
        return None


def restart_postgresql() -> None:
    command = ["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main"]
    try:
        subprocess.run([*command, "stop", "-m", "fast"], check=True, timeout=30)
        time.sleep(1.0)
    finally:
        subprocess.run([*command, "start"], check=True, timeout=60)


def test_a_new_run_starts_on_its_commit_without_waiting_for_the_next_poll(
    db: Session, sessions: sessionmaker[Session], database_url: str, tmp_path: Path
) -> None:
    _, _, offering = owner_and_offering(db, fulfilment={"kind": "plugin", "plugin": "echo"})
    who = requester(db)
    db.commit()
    delays: list[float] = []
    with workers(database_url, tmp_path, SERVICEBAY_WORKER_POLL_SECONDS="30") as (worker,):
        worker.wait_for_output("listening for new runs")
        time.sleep(0.5)
        for _ in range(5):
            before_commit = clock.now()
            request_id = submit(db, who, offering)
            db.close()
            wait_until(
                lambda rid=request_id: status_of(sessions, rid) == "completed",
                timeout=15,
                what="the run is picked up without a poll",
            )
            with sessions() as session:
                (run,) = runs_of(session, request_id)
                (attempt,) = attempts_of(session, run.id)
                delays.append((attempt.started_at - before_commit).total_seconds())
    # The worker polls every 30 s here: a run that started well within that was woken by
    # its commit's notification. How fast the wake-up is lives in the benchmarks.
    assert max(delays) < 10, delays
