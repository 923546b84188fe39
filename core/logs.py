"""Structured logs: one JSON object per line, carrying the id of the HTTP request or run.

The id of an HTTP request (``X-Request-ID``, or one made up) is kept in a context
variable; a fulfilment run created while answering that request stores it, and the
worker sets it again while it runs an attempt, so one id follows a request from the
web process into every attempt of its runs.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from servicebay.core import clock

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


@dataclass
class _Seen:
    since: datetime
    more: int = 0


class OncePerFailure(logging.Filter):
    """Keeps the log readable, and its size bounded, while something keeps failing.

    * A traceback is written once per failure: an exception logged again (by the app's
      error handler and then by the server, say) is named without its traceback.
    * A warning or error like one written less than ``window`` ago (same logger, same
      message template, same kind of exception) is counted instead of written; the
      next one written after the window says how many were left out.
    """

    def __init__(self, window: timedelta = timedelta(minutes=1)) -> None:
        super().__init__()
        self.window = window
        self._seen: dict[tuple[str, int, str, str], _Seen] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        key = (record.name, record.levelno, str(record.msg), type(error).__name__)
        if error is not None:
            if getattr(error, "_servicebay_logged", False):
                record.exc_info = None
                record.exc_text = None
                record.msg = f"{record.getMessage()} ({type(error).__name__}: traceback above)"
                record.args = None
            else:
                # An exception without a __dict__ cannot be marked: its traceback may repeat.
                with suppress(AttributeError):
                    error._servicebay_logged = True  # type: ignore[attr-defined]
        if record.levelno < logging.WARNING:
            return True
        now = clock.now()
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None and now - seen.since < self.window:
                seen.more += 1
                return False
            self._seen[key] = _Seen(since=now)
        if seen is not None and seen.more:
            record.msg = f"{record.getMessage()} (and {seen.more} more like it before this)"
            record.args = None
        return True


def configure(level: str) -> None:
    """Send every servicebay and server log line to stderr as JSON."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    handler.addFilter(OncePerFailure())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # httpx logs the URL of every call at INFO, and a chat webhook's URL is a secret; the
    # run log says what each call came to, naming the host only.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
