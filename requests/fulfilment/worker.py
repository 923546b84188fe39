"""The fulfilment worker: claims due runs, runs their handler, records the outcome.

One worker runs in-process under ``servicebay serve`` on SQLite; any number run as
``servicebay worker`` processes on PostgreSQL, woken by NOTIFY within milliseconds of
the commit that created a run, and polling as the fallback.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from servicebay.catalog import service as catalog_service
from servicebay.catalog.fulfilment import plugins, webhook
from servicebay.catalog.fulfilment.context import (
    OPERATION_EVENT,
    REQUEST_EVENT,
    FulfilmentContext,
)
from servicebay.catalog.fulfilment.outcome import Outcome
from servicebay.catalog.pipeline import rendered_params
from servicebay.catalog.schemas import PipelineStep, PluginStep, WebhookStep
from servicebay.catalog.templates import TemplateFailure
from servicebay.core import chat as core_chat
from servicebay.core import clock, idempotency, logs
from servicebay.core.database import transaction
from servicebay.core.identity import hash_secret
from servicebay.core.outbound import OutboundPolicy
from servicebay.core.settings import Settings
from servicebay.requests.fulfilment import cancel_call, chat, engine, mail, pipeline
from servicebay.requests.fulfilment.engine import ClaimedRun, Timing
from servicebay.requests.models import Instance, RunKind

logger = logging.getLogger("servicebay.worker")
T = TypeVar("T")


@dataclass(frozen=True)
class Attempt:
    """What an attempt's handler is given: the context and, for a request's fulfilment,
    the version's fulfilment settings (an email or chat run has none)."""

    context: FulfilmentContext
    fulfilment: PipelineStep | None
    problem: str = ""  # why the step cannot run (a template that cannot be filled in)


# The kinds of run that deliver a message rather than fulfil a request.
MESSAGES = frozenset({RunKind.EMAIL.value, RunKind.CHAT.value, RunKind.CANCEL.value})
# A claimed run with what its handler needs, or why the attempt could not start.
Prepared = tuple[ClaimedRun, Attempt | str | None]
# The name a worker's LISTEN connection shows in pg_stat_activity; /metrics counts them.
WORKER_APPLICATION = "servicebay-worker"
# The heartbeat of a worker silent this long is removed (unless a lease lasts longer).
FORGET_AFTER = timedelta(hours=1)


class Worker:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: Settings,
        *,
        concurrency: int = 1,
        worker_id: str | None = None,
        chores: Sequence[Callable[[Session], None]] = (),
    ) -> None:
        self.sessions = sessions
        # Other contexts' housekeeping (the analytics roll-up), run by every sweep.
        self.chores = tuple(chores)
        self.settings = settings
        settings.configure_secrets()
        self.concurrency = concurrency
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.lease = timedelta(seconds=settings.run_lease_seconds)
        self.timing = Timing(
            backoff_base=timedelta(seconds=settings.retry_base_seconds),
            callback_timeout=timedelta(seconds=settings.callback_timeout_seconds),
        )
        self.policy = OutboundPolicy.from_settings(settings)
        self.connections = webhook.Connections()
        self.leases = Leases(sessions, self.lease)
        self.heartbeat = Heartbeat(
            sessions,
            self.worker_id,
            every=settings.worker_heartbeat_seconds,
            dead_after=settings.worker_dead_after_seconds,
        )
        engine.reach(sessions).workers.add(self)  # commits that enqueue a run wake it
        self._wake = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="fulfil")
        self._active = 0
        self._active_lock = threading.Lock()

    def wake(self) -> None:
        """Look for work now instead of at the next poll."""
        self._wake.set()

    # --- loops ---------------------------------------------------------------

    def run_once(self) -> int:
        """Claim what is due (up to the concurrency), run it, and return how many ran."""
        with transaction(self.sessions) as session:
            engine.expire_waiting(session, timing=self.timing)
        claimed = self._claim(self.concurrency)
        list(self._pool.map(self._execute, claimed))
        return len(claimed)

    def run_until_idle(self, *, max_rounds: int = 1000) -> int:
        total = 0
        for _ in range(max_rounds):
            ran = self.run_once()
            total += ran
            if ran == 0:
                break
        return total

    def run_forever(self, stop: threading.Event) -> None:
        """Keep every slot busy while work is due; sleep until woken or the poll is due."""
        logger.info("worker %s started", self.worker_id)
        self.heartbeat.start()
        bind = self.sessions.kw.get("bind")
        if bind is not None and bind.dialect.name == "postgresql":
            url = listen_url(self.settings.database_direct_url or bind.url)
            threading.Thread(
                target=listen_for_runs, args=(url, self.wake, stop), daemon=True
            ).start()
        failures = 0
        last_sweep = 0.0
        while not stop.is_set():
            self._wake.clear()
            try:
                if time.monotonic() - last_sweep >= self.settings.worker_poll_seconds:
                    self._sweep()
                    last_sweep = time.monotonic()
                free = self._free_slots()
                claimed = self._claim(free) if free else []
                failures = 0
            except Exception as error:
                failures += 1
                logger.warning("worker %s cannot reach the database: %s", self.worker_id, error)
                stop.wait(min(5.0, 0.2 * 2**failures))
                continue
            for run in claimed:
                self._start(run)
            if claimed and len(claimed) == free:
                continue  # maybe more is due; the loop waits on a slot below if none is free
            self._wake.wait(self.settings.worker_poll_seconds)
        self._pool.shutdown(wait=True)
        self.heartbeat.stop()  # every run it held has ended
        self.connections.close()
        logger.info("worker %s stopped", self.worker_id)

    def _sweep(self) -> None:
        """Housekeeping at poll pace: time out waiting runs, forget expired keys, then run
        the chores, each in its own transaction."""
        with transaction(self.sessions) as session:
            engine.expire_waiting(session, timing=self.timing)
            idempotency.purge_expired(session)
            engine.forget_stopped_workers(session, silent_for=max(2 * self.lease, FORGET_AFTER))
        for chore in self.chores:
            with transaction(self.sessions) as session:
                chore(session)

    def _free_slots(self) -> int:
        with self._active_lock:
            free = self.concurrency - self._active
        if free == 0:
            self._wake.wait(self.settings.worker_poll_seconds)
            with self._active_lock:
                free = self.concurrency - self._active
        return free

    def _start(self, prepared: Prepared) -> None:
        with self._active_lock:
            self._active += 1
        future = self._pool.submit(self._execute, prepared)

        def done(_: object) -> None:
            with self._active_lock:
                self._active -= 1
            self._wake.set()

        future.add_done_callback(done)

    def _claim(self, limit: int) -> list[Prepared]:
        """Claim due runs and prepare each attempt (token, first log line) in one commit."""
        prepared: list[Prepared] = []
        with transaction(self.sessions) as session:
            claimed = engine.claim(
                session,
                worker_id=self.worker_id,
                limit=limit,
                lease=self.lease,
                timing=self.timing,
                stale_before=self.heartbeat.stale_before(),
            )
            for run in claimed:
                try:
                    with session.begin_nested():  # one run's broken data spoils no other
                        attempt: Attempt | str | None = self._prepare(session, run)
                except Exception as error:
                    logger.exception("run %s attempt %s: cannot start", run.id, run.attempt)
                    attempt = f"the attempt could not start: {error!r}"
                prepared.append((run, attempt))
        for run, _ in prepared:
            logger.info("run %s attempt %s claimed", run.id, run.attempt)
        return prepared

    # --- one attempt ---------------------------------------------------------

    def _execute(self, prepared: Prepared) -> None:
        run, attempt = prepared
        with logs.run_context(run_id=run.id, attempt=run.attempt, worker=self.worker_id):
            self._attempt(run, attempt)

    def _attempt(self, run: ClaimedRun, attempt: Attempt | str | None) -> None:
        if attempt is None:
            logger.warning("run %s attempt %s was taken over before it began", run.id, run.attempt)
            return
        if isinstance(attempt, str):
            self._finish(run, Outcome.retry(attempt))
            return
        logs.correlation_id.set(attempt.context.correlation_id)  # run_context restores it
        self.leases.hold(run, for_at_most=self._longest(attempt))
        try:
            outcome = self._dispatch(run, attempt)
        except Exception as error:  # a handler bug must not kill the worker
            logger.exception("run %s attempt %s crashed", run.id, run.attempt)
            outcome = Outcome.retry(f"handler crashed: {error!r}")
        finally:
            self.leases.release(run)
        self._finish(run, outcome)

    def _finish(self, run: ClaimedRun, outcome: Outcome) -> None:
        """Record the outcome, retrying through a database outage while the lease lasts."""
        try:
            recorded = self._with_retries(
                run,
                lambda session: engine.finish(
                    session, run=run, outcome=outcome, timing=self.timing
                ),
            )
        except DBAPIError as error:
            logger.error("run %s attempt %s: outcome lost: %s", run.id, run.attempt, error)
            return
        if recorded:
            logger.info("run %s attempt %s: %s", run.id, run.attempt, outcome.kind)
        else:
            logger.warning("run %s attempt %s was fenced off", run.id, run.attempt)

    def _with_retries(self, run: ClaimedRun, work: Callable[[Session], T]) -> T:
        """One transaction, tried again on database errors until the lease would end."""
        deadline = time.monotonic() + self.lease.total_seconds()
        delay = 0.2
        while True:
            try:
                with transaction(self.sessions) as session:
                    return work(session)
            except DBAPIError as error:
                if time.monotonic() + delay > deadline:
                    raise
                logger.warning("run %s: database error, trying again: %s", run.id, error)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _longest(self, attempt: Attempt) -> float | None:
        """How long the lease may be renewed for this attempt: a webhook call ends by its
        timeout, so a call stuck past it is not kept alive (another worker takes the run
        over once the lease runs out). Other handlers bound their own calls."""
        if isinstance(attempt.fulfilment, WebhookStep | PluginStep):
            return attempt.fulfilment.timeout_seconds + self.lease.total_seconds()
        return None

    def _prepare(self, session: Session, run: ClaimedRun) -> Attempt | None:
        if run.kind in MESSAGES:
            return self._prepare_message(session, run)
        subject = engine.attempt_subject(session, run)
        if subject is None:
            return None
        token = self._started(session, run, max_attempts=subject.max_attempts)
        steps = catalog_service.pipeline_of(subject.OfferingVersion, subject.operation).steps
        if run.step >= len(steps):
            return None  # not a step of its version (cannot happen but by hand)
        step = steps[run.step]
        earlier = (
            pipeline.outputs_by_step(session, request_id=subject.request_id) if run.step else {}
        )
        problem = ""
        try:
            params = rendered_params(step, inputs=subject.inputs, outputs=earlier)
        except TemplateFailure as failure:
            params, problem = {}, f"step {step.name!r} cannot start: {failure}"
        instance = session.get(Instance, subject.instance_id) if subject.instance_id else None
        context = FulfilmentContext(
            run_id=run.id,
            attempt=run.attempt,
            request_id=subject.request_id,
            offering_slug=subject.offering_slug,
            offering_version=subject.OfferingVersion.number,
            inputs=dict(subject.inputs),
            requester={
                "username": subject.username,
                "email": subject.email,
                "name": subject.display_name,
            },
            spec=step.model_dump() | {"params": params},
            secret=subject.OfferingVersion.webhook_secret,
            callback_url=f"{self.settings.base_url}/api/v1/runs/{run.id}/callback",
            callback_token=token,
            correlation_id=subject.correlation_id,
            step={"name": step.name, "position": run.step, "params": params},
            earlier_outputs=earlier,
            cancelled=lambda: self._cancelled(run),
            event_type=OPERATION_EVENT if subject.operation else REQUEST_EVENT,
            instance=_instance_shown(instance) if instance is not None else None,
            operation=subject.operation,
        )
        return Attempt(context, step, problem)

    def _cancelled(self, run: ClaimedRun) -> bool:
        """The cancellation signal a plugin checks: its attempt no longer holds the run."""
        with transaction(self.sessions) as session:
            return not engine.still_held(session, run)

    def _prepare_message(self, session: Session, run: ClaimedRun) -> Attempt | None:
        """An email or a chat message carries what it says in its payload; a chat message's
        address is read from its destination now, and kept in memory only."""
        subject = engine.message_subject(session, run)
        if subject is None:
            return None
        token = self._started(session, run, max_attempts=subject.max_attempts)
        spec = dict(subject.payload)
        secret = None
        if run.kind == RunKind.CHAT.value:
            spec |= _chat_destination(session, spec)
        if run.kind == RunKind.CANCEL.value:
            secret = engine.signing_secret_of(session, request_id=subject.request_id)
        context = FulfilmentContext(
            run_id=run.id,
            attempt=run.attempt,
            request_id=subject.request_id,
            offering_slug="",
            offering_version=0,
            inputs={},
            requester={},
            spec=spec,
            secret=secret,
            callback_url="",
            callback_token=token,
            correlation_id=subject.correlation_id,
        )
        return Attempt(context, None)

    def _started(self, session: Session, run: ClaimedRun, *, max_attempts: int) -> str:
        """The attempt's callback token (stored hashed) and its first log line."""
        token = secrets.token_urlsafe(32)
        engine.set_callback_token(session, run=run, token_hash=hash_secret(token))
        engine.log(
            session,
            run_id=run.id,
            attempt=run.attempt,
            level="info",
            message=f"attempt {run.attempt} of {max_attempts} started by worker {self.worker_id}",
        )
        return token

    def _dispatch(self, run: ClaimedRun, attempt: Attempt) -> Outcome:
        context, fulfilment = attempt.context, attempt.fulfilment
        if run.kind == RunKind.EMAIL.value:
            return mail.send(context.spec, settings=self.settings)
        if run.kind == RunKind.CHAT.value:
            return chat.send(
                context.spec,
                base_url=self.settings.base_url,
                policy=self.policy,
                connections=self.connections,
            )
        if run.kind == RunKind.CANCEL.value:
            return cancel_call.send(context, policy=self.policy, connections=self.connections)
        if attempt.problem:
            return Outcome.fatal(attempt.problem)
        if isinstance(fulfilment, WebhookStep):
            return webhook.deliver(
                context, fulfilment, policy=self.policy, connections=self.connections
            )
        if isinstance(fulfilment, PluginStep):
            return plugins.run(context)
        kind = fulfilment.kind if fulfilment else None
        return Outcome.fatal(f"fulfilment kind {kind!r} is not run by workers")


def _instance_shown(instance: Instance) -> dict[str, object]:
    """What a fulfilment receives of the instance it makes or operates on."""
    return {
        "id": instance.id,
        "name": instance.name,
        "state": instance.state,
        "spec": dict(instance.spec or {}),
        "outputs": dict(instance.outputs or {}),
    }


def _chat_destination(session: Session, payload: dict[str, object]) -> dict[str, str]:
    """Where a chat run posts, read when its attempt starts (kept in memory only)."""
    found = core_chat.get(session, destination_id=int(str(payload.get("destination") or 0)))
    if found is None:
        return {}
    return {"url": found.url, "host": found.host, "format": found.format}


class Leases:
    """The runs a worker is working on, and the one thread that renews all their leases.

    Every third of a lease one UPDATE, fenced by attempt, extends the lease of every run
    held; a run whose attempt no longer holds it (taken over while this worker was paused,
    or cancelled) is logged and renewed no more, and so is a run held longer than its
    attempt may take (its lease then runs out and another worker takes the run over). The
    thread ends when no run is held and starts again with the next one.
    """

    def __init__(self, sessions: sessionmaker[Session], lease: timedelta) -> None:
        self._sessions = sessions
        self._lease = lease
        self._held: dict[ClaimedRun, float] = {}  # run -> renewed until (monotonic)
        self._lock = threading.Lock()
        self._renewing = False

    def hold(self, run: ClaimedRun, *, for_at_most: float | None = None) -> None:
        """Keep the run's lease while it is held, for at most ``for_at_most`` seconds."""
        until = time.monotonic() + for_at_most if for_at_most is not None else float("inf")
        with self._lock:
            self._held[run] = until
            if not self._renewing:
                self._renewing = True
                threading.Thread(target=self._renew, name="servicebay-leases", daemon=True).start()

    def release(self, run: ClaimedRun) -> None:
        with self._lock:
            self._held.pop(run, None)

    def _renew(self) -> None:
        while True:
            time.sleep(self._lease.total_seconds() / 3)
            now = time.monotonic()
            with self._lock:
                overdue = {run for run, until in self._held.items() if until <= now}
                for run in overdue:
                    del self._held[run]
                runs = set(self._held)
                if not runs:
                    self._renewing = False
            for run in overdue:
                logger.warning(
                    "run %s attempt %s outlasted its timeout; its lease is no longer renewed",
                    run.id,
                    run.attempt,
                )
            if not runs:
                return
            try:
                with transaction(self._sessions) as session:
                    renewed = engine.renew_leases(session, runs=runs, lease=self._lease)
            except Exception as error:
                logger.warning("lease renewal failed: %s", error)
                continue
            with self._lock:
                lost = (runs - renewed) & self._held.keys()  # one released meanwhile ended
                for run in lost:
                    del self._held[run]
            for run in lost:
                logger.warning("run %s attempt %s lost its lease", run.id, run.attempt)


class Heartbeat:
    """The thread that records, every ``every`` seconds, that this worker is alive.

    Another worker takes this one's runs over once its heartbeat is ``dead_after`` old,
    and this one does so for others from its first beat on, and after a gap in its own
    beats (a database outage: every heartbeat is old then) only once it has beaten for
    ``dead_after`` again, which gives the other live workers the time to do so too.
    """

    def __init__(
        self, sessions: sessionmaker[Session], worker_id: str, *, every: float, dead_after: float
    ) -> None:
        self._sessions = sessions
        self._worker_id = worker_id
        self._every = every
        self._dead_after = dead_after
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._beating_since: float | None = None  # clock.monotonic() of the first beat in a row
        self._last_beat = 0.0

    def start(self) -> None:
        self._beat()  # before the first claim, so its runs are never taken for orphans
        with self._lock:
            if self._beating_since is not None:  # nothing suggests an outage: judge at once
                self._beating_since -= self._dead_after
        self._thread = threading.Thread(
            target=self._beat_forever, name="servicebay-heartbeat", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop beating and remove this worker's row; call when its runs have ended."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        try:
            with transaction(self._sessions) as session:
                engine.forget_worker(session, worker_id=self._worker_id)
        except Exception as error:  # the row is forgotten by the others in time
            logger.warning("worker %s could not remove its heartbeat: %s", self._worker_id, error)

    def stale_before(self) -> datetime | None:
        """Heartbeats older than this belong to stopped workers; None while this worker's
        own heartbeat has not been going steadily for long enough to judge."""
        now = clock.monotonic()
        with self._lock:
            since, last = self._beating_since, self._last_beat
        if since is None or now - last >= self._dead_after or now - since < self._dead_after:
            return None
        return clock.now() - timedelta(seconds=self._dead_after)

    def _beat_forever(self) -> None:
        while not self._stop.wait(self._every):
            self._beat()

    def _beat(self) -> None:
        try:
            with transaction(self._sessions) as session:
                engine.beat(
                    session, worker_id=self._worker_id, host=socket.gethostname(), pid=os.getpid()
                )
        except Exception as error:
            logger.warning("worker %s heartbeat failed: %s", self._worker_id, error)
            return
        now = clock.monotonic()
        with self._lock:
            if self._beating_since is None or now - self._last_beat >= self._dead_after:
                self._beating_since = now
            self._last_beat = now


def worker_processes(session: Session) -> int | None:
    """Worker processes connected to PostgreSQL (each holds one LISTEN connection);
    None on SQLite, where the only worker runs inside ``serve``."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    count = session.scalar(
        text(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE application_name = :name AND datname = current_database()"
        ),
        {"name": WORKER_APPLICATION},
    )
    return int(count or 0)


def listen_url(url: str | URL) -> str:
    """The URL as psycopg takes it (no SQLAlchemy driver name), password included."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def listen_for_runs(url: str, wake: Callable[[], None], stop: threading.Event) -> None:
    """LISTEN on a dedicated direct connection (not through a transaction pooler)."""
    import psycopg

    while not stop.is_set():
        try:
            with psycopg.connect(
                url, autocommit=True, connect_timeout=5, application_name=WORKER_APPLICATION
            ) as connection:
                connection.execute(f"LISTEN {engine.WAKE_CHANNEL}")
                logger.info("listening for new runs")
                wake()  # anything committed while we were not listening
                while not stop.is_set():
                    for _ in connection.notifies(timeout=1.0, stop_after=1):
                        wake()
        except Exception as error:
            logger.warning("wake-up listener lost its connection: %s", error)
            stop.wait(1.0)


class BackgroundWorker:
    """A Worker on a daemon thread, for the embedded single-process mode."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=worker.run_forever, args=(self._stop,), name="servicebay-worker", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.worker.wake()
        self._thread.join(timeout=30)
