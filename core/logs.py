"""Structured logs: one JSON object per line, carrying the id of the HTTP request or run.

The id of an HTTP request (``X-Request-ID``, or one made up) is kept in a context
variable; a fulfilment run created while answering that request stores it, and the
worker sets it again while it runs an attempt, so one id follows a request from the
web process into every attempt of its runs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
current_run: ContextVar[dict[str, object] | None] = ContextVar("current_run", default=None)

RUN_FIELDS = ("run_id", "attempt", "worker")


def current_correlation_id() -> str | None:
    """The id of the HTTP request (or run) being handled on this thread, if any."""
    return correlation_id.get()


@contextmanager
def run_context(*, run_id: int, attempt: int, worker: str) -> Iterator[None]:
    """Name this run attempt in every log line written inside the block.

    The correlation id is restored on exit, so code inside may set it to the run's.
    """
    run_token = current_run.set({"run_id": run_id, "attempt": attempt, "worker": worker})
    id_token = correlation_id.set(None)
    try:
        yield
    finally:
        correlation_id.reset(id_token)
        current_run.reset(run_token)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        current = correlation_id.get()
        if current:
            entry["request_id"] = current
        entry.update(current_run.get() or {})
        for key in RUN_FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(level: str) -> None:
    """Send every servicebay and server log line to stderr as JSON."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
