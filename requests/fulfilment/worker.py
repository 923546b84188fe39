"""The fulfilment worker: claims due runs, runs their handler, records the outcome.

One worker runs in-process under ``servicebay serve`` on SQLite; any number run as
``servicebay worker`` processes on PostgreSQL.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from servicebay.catalog.models import OfferingVersion
from servicebay.core.database import transaction
from servicebay.core.identity import hash_secret
from servicebay.core.outbound import OutboundPolicy
from servicebay.core.settings import Settings
from servicebay.requests.fulfilment import engine, plugins, webhook
from servicebay.requests.fulfilment.context import FulfilmentContext
from servicebay.requests.fulfilment.engine import ClaimedRun, Outcome
from servicebay.requests.models import FulfilmentRun

logger = logging.getLogger("servicebay.worker")


class Worker:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: Settings,
        *,
        concurrency: int = 1,
        worker_id: str | None = None,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.concurrency = concurrency
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.lease = timedelta(seconds=settings.run_lease_seconds)
        self.policy = OutboundPolicy.from_lists(
            settings.fulfilment_allowed_networks, settings.fulfilment_allowed_hosts
        )
        self._wake = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="fulfil")

    def wake(self) -> None:
        """Look for work now instead of at the next poll."""
        self._wake.set()

    def run_once(self) -> int:
        """Claim what is due (up to the concurrency), run it, and return how many ran."""
        with transaction(self.sessions) as session:
            claimed = engine.claim(
                session, worker_id=self.worker_id, limit=self.concurrency, lease=self.lease
            )
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
        logger.info("worker %s started", self.worker_id)
        while not stop.is_set():
            try:
                ran = self.run_once()
            except Exception:
                logger.exception("worker %s: claiming failed; retrying", self.worker_id)
                ran = 0
            if ran == 0:
                self._wake.wait(self.settings.worker_poll_seconds)
                self._wake.clear()
        self._pool.shutdown(wait=True)
        logger.info("worker %s stopped", self.worker_id)

    def _execute(self, run: ClaimedRun) -> None:
        with transaction(self.sessions) as session:
            context = self._prepare(session, run)
        stop_heartbeat = threading.Event()
        heartbeat = threading.Thread(
            target=self._heartbeat, args=(run, stop_heartbeat), daemon=True
        )
        heartbeat.start()
        try:
            outcome = self._dispatch(context)
        except Exception as error:  # a handler bug must not kill the worker
            logger.exception("run %s attempt %s crashed", run.id, run.attempt)
            outcome = Outcome.retry(f"handler crashed: {error!r}")
        finally:
            stop_heartbeat.set()
            heartbeat.join()
        with transaction(self.sessions) as session:
            if not engine.finish(session, run=run, outcome=outcome):
                logger.warning("run %s attempt %s was fenced off", run.id, run.attempt)

    def _prepare(self, session: Session, run: ClaimedRun) -> FulfilmentContext:
        row = session.get_one(FulfilmentRun, run.id)
        request = row.request
        version = session.get_one(OfferingVersion, request.offering_version_id)
        token = secrets.token_urlsafe(32)
        row.callback_token_hash = hash_secret(token)
        engine.log(
            session,
            run_id=run.id,
            attempt=run.attempt,
            level="info",
            message=f"attempt {run.attempt} started by worker {self.worker_id}",
        )
        return FulfilmentContext(
            run_id=run.id,
            attempt=run.attempt,
            request_id=request.id,
            offering_slug=request.offering.slug,
            offering_version=version.number,
            inputs=dict(request.inputs),
            requester={
                "username": request.requester.username,
                "email": request.requester.email,
                "name": request.requester.display_name,
            },
            spec=dict(version.fulfilment),
            secret=version.webhook_secret,
            callback_url=f"{self.settings.base_url}/api/v1/runs/{run.id}/callback",
            callback_token=token,
        )

    def _dispatch(self, context: FulfilmentContext) -> Outcome:
        kind = context.spec.get("kind")
        if kind == "webhook":
            return webhook.deliver(context, policy=self.policy)
        if kind == "plugin":
            return plugins.run(context)
        if kind == "manual":
            return Outcome("accepted", "waiting for the owner team to do the work")
        return Outcome.fatal(f"unknown fulfilment kind {kind!r}")

    def _heartbeat(self, run: ClaimedRun, stop: threading.Event) -> None:
        interval = self.lease.total_seconds() / 3
        while not stop.wait(interval):
            try:
                with transaction(self.sessions) as session:
                    if not engine.renew_lease(session, run=run, lease=self.lease):
                        return
            except Exception:
                logger.exception("run %s: lease renewal failed", run.id)


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
