"""Health, readiness and Prometheus metrics; a request id on every answer."""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from servicebay.catalog.models import Offering
from servicebay.core import clock, migrations
from servicebay.core.logs import correlation_id
from servicebay.requests.fulfilment.worker import WORKER_APPLICATION
from servicebay.requests.models import FulfilmentRun, RunAttempt, RunStatus
from servicebay.requests.models import Request as ServiceRequest

logger = logging.getLogger("servicebay.metrics")

HTTP_REQUESTS = Counter(
    "servicebay_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "servicebay_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
REQUEST_ID_HEADER = "X-Request-ID"
# Set by `servicebay serve --workers N` (or by you): every web process writes its
# counters there and any of them answers /metrics with the sum over all of them.
MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

router = APIRouter(include_in_schema=False)


async def request_id_and_metrics(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else None
    token = correlation_id.set(request_id or secrets.token_hex(8))
    started = time.perf_counter()
    try:
        response = await call_next(request)
    finally:
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        elapsed = time.perf_counter() - started
        HTTP_LATENCY.labels(request.method, template).observe(elapsed)
    HTTP_REQUESTS.labels(request.method, template, str(response.status_code)).inc()
    response.headers[REQUEST_ID_HEADER] = correlation_id.get() or ""
    correlation_id.reset(token)
    return response


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> Response:
    """The database answers and its schema is at the newest migration."""
    engine = request.app.state.engine
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        current = migrations.is_current(engine)
    except Exception as error:
        return JSONResponse({"status": "unavailable", "reason": str(error)[:200]}, 503)
    if not current:
        return JSONResponse({"status": "unavailable", "reason": "migrations pending"}, 503)
    return JSONResponse({"status": "ok"})


@router.get("/metrics")
def metrics(request: Request) -> Response:
    registry: CollectorRegistry = request.app.state.metrics_registry
    body = generate_latest(_process_registry()) + generate_latest(registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def _process_registry() -> CollectorRegistry:
    if not os.environ.get(MULTIPROCESS_VARIABLE):
        return REGISTRY
    combined = CollectorRegistry()
    multiprocess.MultiProcessCollector(combined)  # type: ignore[no-untyped-call]
    return combined


class DatabaseCollector(Collector):
    """Figures read from the database at scrape time, so every process reports the same."""

    def __init__(self, sessions: sessionmaker[Session], *, in_process_worker: bool) -> None:
        self.sessions = sessions
        self.in_process_worker = in_process_worker

    def collect(self) -> Iterator[Metric]:
        try:
            with self.sessions() as session:
                figures = [
                    *self._requests(session),
                    *self._runs(session),
                    *self._attempts(session),
                    self._workers(session),
                ]
                session.rollback()
        except SQLAlchemyError:
            logger.warning("database figures left out of /metrics", exc_info=True)
            return
        yield from figures

    def _requests(self, session: Session) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "servicebay_requests", "Requests by offering and status", labels=["offering", "status"]
        )
        rows = session.execute(
            select(Offering.slug, ServiceRequest.status, func.count())
            .join(Offering, Offering.id == ServiceRequest.offering_id)
            .group_by(Offering.slug, ServiceRequest.status)
        )
        for slug, status, count in rows:
            family.add_metric([slug, status], count)
        yield family

    def _runs(self, session: Session) -> Iterator[Metric]:
        now = clock.now()
        by_status = GaugeMetricFamily(
            "servicebay_fulfilment_runs", "Fulfilment runs by status", labels=["status"]
        )
        for status, count in session.execute(
            select(FulfilmentRun.status, func.count()).group_by(FulfilmentRun.status)
        ):
            by_status.add_metric([status], count)
        yield by_status
        due = (FulfilmentRun.status == RunStatus.QUEUED.value) & (
            FulfilmentRun.next_attempt_at <= now
        )
        depth, oldest = session.execute(
            select(func.count(), func.min(FulfilmentRun.next_attempt_at)).where(due)
        ).one()
        yield GaugeMetricFamily(
            "servicebay_queue_depth", "Runs due and not yet claimed", value=depth
        )
        age = 0.0
        if oldest is not None:
            oldest_at = oldest if oldest.tzinfo else oldest.replace(tzinfo=now.tzinfo)
            age = max(0.0, (now - oldest_at).total_seconds())
        yield GaugeMetricFamily(
            "servicebay_queue_oldest_due_seconds", "Age of the oldest due run", value=age
        )
        workers = session.scalar(
            select(func.count(func.distinct(FulfilmentRun.lease_owner))).where(
                FulfilmentRun.status == RunStatus.RUNNING.value,
                FulfilmentRun.lease_expires_at > now,
            )
        )
        yield GaugeMetricFamily(
            "servicebay_busy_workers", "Workers holding a live lease", value=workers or 0
        )

    def _attempts(self, session: Session) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "servicebay_fulfilment_attempts",
            "Attempts to fulfil, by how they ended (running: not ended yet)",
            labels=["outcome"],
        )
        rows = session.execute(select(RunAttempt.status, func.count()).group_by(RunAttempt.status))
        for outcome, count in rows:
            family.add_metric([outcome], count)
        yield family

    def _workers(self, session: Session) -> Metric:
        """Worker processes connected to PostgreSQL (each holds one LISTEN connection)."""
        if session.get_bind().dialect.name == "postgresql":
            count = session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE application_name = :name AND datname = current_database()"
                ),
                {"name": WORKER_APPLICATION},
            )
        else:
            count = 1 if self.in_process_worker else 0
        return GaugeMetricFamily(
            "servicebay_workers", "Fulfilment worker processes running", value=count or 0
        )
