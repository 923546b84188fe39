"""While something keeps failing, the log names each failure once and stays small."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError

from servicebay.core import clock
from servicebay.core.logs import JsonFormatter, OncePerFailure

DOWN = "postgresql+psycopg://servicebay@127.0.0.1:1/servicebay"  # nothing listens there


@pytest.fixture
def written(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """What the configured handler writes, and what it would write without the filter."""
    # A server started earlier in the run (uvicorn's own logging set-up) may have stopped
    # its loggers from reaching the root handler; here they reach it, as configured.
    for name in ("uvicorn", "uvicorn.error"):
        monkeypatch.setattr(logging.getLogger(name), "propagate", True)
        monkeypatch.setattr(logging.getLogger(name), "disabled", False)
    kept, everything = io.StringIO(), io.StringIO()
    handlers = [logging.StreamHandler(kept), logging.StreamHandler(everything)]
    handlers[0].addFilter(OncePerFailure())
    root = logging.getLogger()
    for handler in handlers:
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    clock.freeze(datetime(2026, 12, 1, 3, 0, tzinfo=UTC))
    yield kept, everything
    clock.reset()
    for handler in handlers:
        root.removeHandler(handler)


def database_error() -> OperationalError:
    engine = create_engine(DOWN, connect_args={"connect_timeout": 1})
    try:
        engine.connect()
    except OperationalError as error:
        return error
    finally:
        engine.dispose()
    raise AssertionError("something answers on port 1")


def refused() -> OperationalError:
    """A database error with a traceback, made without a connection attempt."""
    try:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError(111, "refused"))
    except OperationalError as error:
        return error


def test_an_error_logged_by_the_app_and_again_by_the_server_shows_its_traceback_once(
    written: tuple[io.StringIO, io.StringIO],
) -> None:
    kept, _ = written
    error = database_error()

    logging.getLogger("servicebay.portal").error("unexpected error on GET /", exc_info=error)
    logging.getLogger("uvicorn.error").error("Exception in ASGI application", exc_info=error)

    lines = kept.getvalue().splitlines()
    assert len(lines) == 2
    assert sum('"error": "Traceback' in line for line in lines) == 1
    assert "OperationalError: traceback above" in lines[1]


def test_a_ten_minute_database_outage_writes_a_small_log(
    written: tuple[io.StringIO, io.StringIO],
) -> None:
    kept, everything = written
    worker = logging.getLogger("servicebay.worker")
    web = logging.getLogger("servicebay.portal")
    for second in range(10 * 60):  # what the worker and each web request log, every second
        error = database_error() if second % 60 == 0 else refused()
        worker.warning("worker %s cannot reach the database: %s", "w-1", error)
        worker.warning("lease renewal failed: %s", error)
        web.error("unexpected error on %s %s", "GET", f"/requests/{second}", exc_info=error)
        clock.advance(timedelta(seconds=1))

    size = len(kept.getvalue())
    assert size < 100_000, f"{size} bytes for a ten-minute outage"
    assert len(everything.getvalue()) > 5 * size
    lines = kept.getvalue().splitlines()
    assert len(lines) == 3 * 10, "each kind of failure once a minute"
    assert "(and 59 more like it before this)" in lines[-1]
