"""Health, readiness and Prometheus metrics; a request id on every answer."""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Iterator

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
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicebay.core import migrations
from servicebay.core.logs import correlation_id
from servicebay.requests import service as requests_service
from servicebay.requests.fulfilment import engine, worker

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


class RequestIdAndMetrics:
    """A request id on every answer (the caller's, when it is usable) and in every log
    line meanwhile; the count and duration of every answer by route. Plain ASGI."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get(REQUEST_ID_HEADER, "")
        request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else None
        token = correlation_id.set(request_id or secrets.token_hex(8))
        status: int | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = correlation_id.get() or ""
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            template = getattr(scope.get("route"), "path", "unmatched")
            HTTP_LATENCY.labels(scope["method"], template).observe(time.perf_counter() - started)
            if status is not None:
                HTTP_REQUESTS.labels(scope["method"], template, str(status)).inc()
            correlation_id.reset(token)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> Response:
    """The database answers and its schema is at the newest migration."""
    try:
        current = migrations.is_current(request.app.state.engine)
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
                requests = requests_service.counts_by_offering_and_status(session)
                queue = engine.queue_stats(session)
                processes = worker.worker_processes(session)
                session.rollback()
        except SQLAlchemyError:
            logger.warning("database figures left out of /metrics", exc_info=True)
            return
        if processes is None:
            processes = 1 if self.in_process_worker else 0
        yield from self._families(requests, queue, processes)

    @staticmethod
    def _families(
        requests: list[tuple[str, str, int]], queue: engine.QueueStats, processes: int
    ) -> Iterator[Metric]:
        by_offering = GaugeMetricFamily(
            "servicebay_requests", "Requests by offering and status", labels=["offering", "status"]
        )
        for slug, status, count in requests:
            by_offering.add_metric([slug, status], count)
        yield by_offering
        runs = GaugeMetricFamily(
            "servicebay_fulfilment_runs", "Fulfilment runs by status", labels=["status"]
        )
        for status, count in queue.runs_by_status.items():
            runs.add_metric([status], count)
        yield runs
        yield GaugeMetricFamily(
            "servicebay_queue_depth", "Runs due and not yet claimed", value=queue.due
        )
        yield GaugeMetricFamily(
            "servicebay_queue_oldest_due_seconds",
            "Age of the oldest due run",
            value=queue.oldest_due_seconds,
        )
        yield GaugeMetricFamily(
            "servicebay_busy_workers", "Workers holding a live lease", value=queue.busy_workers
        )
        attempts = CounterMetricFamily(
            "servicebay_fulfilment_attempts",
            "Attempts to fulfil, by how they ended (running: not ended yet)",
            labels=["outcome"],
        )
        for outcome, count in queue.attempts_by_status.items():
            attempts.add_metric([outcome], count)
        yield attempts
        yield GaugeMetricFamily(
            "servicebay_workers", "Fulfilment worker processes running", value=processes
        )
