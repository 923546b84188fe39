"""Shared fixtures: a migrated database per backend per run, an app, a client.

Every test that touches the database runs on SQLite and on PostgreSQL. The
PostgreSQL database is created for this run and dropped at its end.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from servicebay.core import clock, crypto, migrations
from servicebay.core.database import Base, make_engine, make_sessionmaker
from servicebay.core.settings import Settings
from servicebay.portal.app import create_app
from tests.identity_provider import IdentityProvider, run_identity_provider

if TYPE_CHECKING:
    from playwright.sync_api import Browser

POSTGRES_ADMIN_URL = os.environ.get(
    "SERVICEBAY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ["sqlite", "postgresql"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``SERVICEBAY_TEST_PART=shared`` keeps the tests that may run beside others (in
    parallel processes), ``exclusive`` those that stop a shared service and must run alone."""
    part = os.environ.get("SERVICEBAY_TEST_PART", "")
    if part not in ("shared", "exclusive"):
        return
    keep = [
        item
        for item in items
        if (item.get_closest_marker("exclusive") is not None) == (part == "exclusive")
    ]
    dropped = [item for item in items if item not in keep]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def _create_postgres_database() -> tuple[str, Engine]:
    name = f"servicebay_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_ADMIN_URL).set(database=name)
    return url.render_as_string(hide_password=False), admin


def _drop_postgres_database(url: str, admin: Engine) -> None:
    name = make_url(url).database
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database for this run, made by the migrations and nothing else."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "servicebay.db"
        url = f"sqlite:///{path}"
        migrations.upgrade(url)
        yield url
        return
    url, admin = _create_postgres_database()
    try:
        migrations.upgrade(url)
        yield url
    finally:
        _drop_postgres_database(url, admin)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """A session factory on an empty database (every table emptied before the test)."""
    _empty_tables(engine)
    clock.reset()
    yield make_sessionmaker(engine)
    clock.reset()


def _empty_tables(engine: Engine) -> None:
    tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
def db(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A session for arranging and checking data; commit to make it visible to the app."""
    session = sessions()
    yield session
    session.rollback()
    session.close()


TEST_SECRET_KEY = "test-secret-key-not-for-production"


@pytest.fixture(autouse=True, scope="session")
def secret_key_configured() -> None:
    """Factories store webhook secrets before any app exists; they need the key too."""
    crypto.configure(TEST_SECRET_KEY)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path,
        secret_key=TEST_SECRET_KEY,
        base_url="http://testserver",
        fulfilment_allowed_networks=["127.0.0.0/8"],
        run_lease_seconds=30,
    )


@pytest.fixture
def app(settings: Settings, sessions: sessionmaker[Session]) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("Debian's chromium is not installed; scripts/setup --test installs it")
    return found


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One Chromium for the whole run: two Playwright instances in one process clash."""
    from playwright.sync_api import sync_playwright  # only browser tests need Playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=_chromium(),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def identity_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdentityProvider]:
    """A real OpenID provider (oidc-provider under node) for the whole run."""
    with run_identity_provider(tmp_path_factory.mktemp("oidc")) as provider:
        yield provider
