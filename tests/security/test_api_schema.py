"""The JSON API against its own OpenAPI description, fuzzed with an admin's token and a
consumer's: no answer is a server error, and every answer matches its documented schema."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from servicebay.core import migrations
from servicebay.core.database import make_engine, make_sessionmaker, transaction
from servicebay.core.identity import Role
from servicebay.core.settings import Settings
from servicebay.portal.app import create_app
from tests.conftest import TEST_SECRET_KEY
from tests.factories import make_offering, make_team, make_user, token_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory: pytest.TempPathFactory) -> tuple[FastAPI, dict[str, dict]]:
    data_dir: Path = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{data_dir / 'servicebay.db'}"
    migrations.upgrade(url)
    app_settings = Settings(
        database_url=url,
        data_dir=data_dir,
        secret_key=TEST_SECRET_KEY,
        base_url="http://testserver",
        rate_limit_search=1_000_000,
        rate_limit_submit=1_000_000,
        rate_limit_tokens=1_000_000,
        rate_limit_login=1_000_000,
    )
    engine = make_engine(url)
    with transaction(make_sessionmaker(engine)) as db:
        team = make_team(db, "platform")
        lead = make_user(db, "lead", team=team, role=Role.LEAD)
        make_offering(db, team, lead, slug="database")
        admin = make_user(db, "admin", admin=True)
        consumer = make_user(db, "consumer", team=make_team(db))
        headers = {
            "admin": token_for(db, admin, ["read", "request", "ops", "admin"]),
            "consumer": token_for(db, consumer, ["read", "request"]),
        }
    engine.dispose()
    return create_app(app_settings), headers


OPERATION_EXAMPLES = 25


def test_api_answers_without_server_errors_and_as_documented(
    fuzzed_app: tuple[FastAPI, dict[str, dict]],
) -> None:
    app, tokens = fuzzed_app
    api = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 40
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=OPERATION_EXAMPLES,
            deadline=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def answers_as_documented(case: schemathesis.Case) -> None:
            for headers in tokens.values():
                case.call_and_validate(
                    headers=headers, checks=[not_a_server_error, response_schema_conformance]
                )

        answers_as_documented()
