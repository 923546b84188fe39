"""The JSON API against its own OpenAPI document with every schemathesis check, as an admin
and as a consumer, on SQLite and on PostgreSQL: every status code, header and content type
an operation answers is documented, and every answer matches its documented schema.

Bounded: a fixed seed and a small number of generated examples per operation, plus the
coverage phase's boundary and negative cases (wrong types, undeclared methods).
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from schemathesis import engine
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events
from schemathesis.openapi import from_asgi
from sqlalchemy.orm import Session

from servicebay.core.identity import Role
from tests.factories import make_offering, make_team, make_user, token_for

pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = 5

CONFIG = {
    "seed": 2026,
    "suppress-health-check": ["all"],
    "generation": {"max-examples": EXAMPLES_PER_OPERATION, "deterministic": True},
    "phases": {"stateful": {"enabled": False}},
    # Input that fits the document can still break a rule no schema can say (the team must
    # exist, the assignee must be in the owner team, inputs must fit the offering's own
    # form): that answer is 422 with the problems, as documented.
    # The offering definition is one deep document: its coverage cases alone would be half
    # of the run; generated examples still reach it.
    "operations": [
        {
            "include-name": ["POST /api/v1/offerings", "PUT /api/v1/offerings/{slug}"],
            "phases": {"coverage": {"enabled": False}},
        }
    ],
    "checks": {
        "positive_data_acceptance": {
            "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
        }
    },
}


@pytest.fixture
def tokens(db: Session) -> dict[str, dict[str, str]]:
    team = make_team(db, "platform")
    lead = make_user(db, "lead", team=team, role=Role.LEAD)
    make_offering(db, team, lead, slug="database")
    admin = make_user(db, "admin", admin=True)
    consumer = make_user(db, "consumer", team=make_team(db))
    headers = {
        "admin": token_for(db, admin, ["read", "request", "ops", "admin"]),
        "consumer": token_for(db, consumer, ["read", "request"]),
    }
    db.commit()
    return headers


def _conformance_failures(app: FastAPI, headers: dict[str, str]) -> list[str]:
    """Run every phase but the stateful one with every check; say each distinct failure."""
    config = SchemathesisConfig.from_dict({**CONFIG, "headers": headers})
    schema = from_asgi("/openapi.json", app, config=config)
    said: set[str] = set()
    for event in engine.from_schema(schema).execute():
        if isinstance(event, events.FatalError):
            said.add(f"schemathesis failed: {event.exception!r}")
        if isinstance(event, events.NonFatalError):
            said.add(f"{event.label}: {event.info.title}: {event.info.message}")
        if isinstance(event, events.ScenarioFinished) and event.status == Status.FAILURE:
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.failure_info is not None:
                        failure, sample = check.failure_info.failure, check.failure_info.code_sample
                        said.add(f"{event.label}: {failure.title}: {failure.message}\n{sample}")
    return sorted(said)


@pytest.mark.parametrize("who", ["admin", "consumer"])
def test_api_answers_as_its_openapi_document_says(
    app: FastAPI, tokens: dict[str, dict[str, str]], who: str
) -> None:
    assert _conformance_failures(app, tokens[who]) == []
