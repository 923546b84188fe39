"""Behind a transaction pooler: workers keep their LISTEN connection on the direct URL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from servicebay.requests.fulfilment.worker import WORKER_APPLICATION
from tests.requests.test_worker_processes import start_worker, wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]


def test_a_worker_listens_through_the_direct_url_when_one_is_set(
    database_url: str, tmp_path: Path
) -> None:
    # Another database stands for "PostgreSQL itself" so that the connection shows
    # where it went; the worker's queries keep going to SERVICEBAY_DATABASE_URL.
    direct = make_url(database_url).set(database="postgres")
    monitor = create_engine(database_url)

    def listeners_in(database: str) -> int:
        with monitor.connect() as connection:
            found = connection.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE application_name = :name AND datname = :database"
                ),
                {"name": WORKER_APPLICATION, "database": database},
            )
            return int(found or 0)

    here = make_url(database_url).database or ""
    before = listeners_in("postgres")
    worker = start_worker(
        database_url,
        tmp_path,
        SERVICEBAY_DATABASE_DIRECT_URL=direct.render_as_string(hide_password=False),
    )
    try:
        wait_until(
            lambda: listeners_in("postgres") == before + 1,
            timeout=20,
            what="the worker listens on the direct URL",
        )
        assert listeners_in(here) == 0
    finally:
        worker.stop()
        monitor.dispose()
