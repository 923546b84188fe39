"""Every agent tool by every kind of user → allowed or denied, by the same rules as the
routes (tests/security/test_authorization_matrix.py), over MCP with the SDK's client.

The table is read against the server's own tool list: a tool without an entry fails."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy.orm import Session

from servicebay.core import identity
from servicebay.core.identity import SCOPES
from servicebay.core.settings import Settings
from servicebay.portal.app import create_app
from servicebay.requests import service as requests_service
from tests.agents import connected, refusal
from tests.factories import make_offering
from tests.security.test_authorization_matrix import INPUTS, ROLES, RULES, SIGNED_IN, World
from tests.security.test_authorization_matrix import build_world as build_route_world
from tests.servers import app_on_thread, free_port, in_own_loop

Arguments = Callable[[World, str], dict[str, Any]]

# tool → (its arguments in the world, as role; the rule saying who may use it)
EXPECTED: dict[str, tuple[Arguments, str]] = {
    "search_offerings": (lambda w, role: {"query": "database"}, "signed-in"),
    "describe_offering": (lambda w, role: {"slug": w.slug}, "signed-in"),
    "validate_request": (lambda w, role: {"offering": w.slug, "inputs": INPUTS}, "signed-in"),
    "list_field_options": (
        lambda w, role: {"offering": w.slug, "field": "size", "inputs": {}},
        "signed-in",
    ),
    "submit_request": (
        lambda w, role: {"offering": w.slug, "inputs": INPUTS, "idempotency_key": role},
        "signed-in",
    ),
    "list_my_requests": (lambda w, role: {}, "signed-in"),
    "get_request": (lambda w, role: {"request_id": w.request_id}, "request-reader"),
    "cancel_request": (lambda w, role: {"request_id": w.request_id}, "requester-or-owner-team"),
    "comment_on_request": (
        lambda w, role: {"request_id": w.request_id, "body": "Any news?"},
        "request-viewer",
    ),
    "list_pending_approvals": (lambda w, role: {}, "signed-in"),
    # the consumer asked, so may not decide; the step is the owner team's leads'
    "decide_approval": (
        lambda w, role: {"approval_id": w.approval_id, "decision": "approve"},
        "approver",
    ),
    "list_demands": (lambda w, role: {}, "signed-in"),
    "file_demand": (lambda w, role: {"title": "A message queue"}, "signed-in"),
    "vote_demand": (lambda w, role: {"demand_id": w.demand_id}, "signed-in"),
    "list_failed_runs": (lambda w, role: {"team": w.team_slug}, "owner-member"),
    "retry_request": (lambda w, role: {"request_id": w.request_id}, "owner-member"),
}
SECRET_SLUG = "vault"


def build_world(db: Session) -> tuple[World, int]:
    """The routes' world, plus an offering only its owner team sees and a request on it."""
    world = build_route_world(db)
    owners = identity.get_team(db, slug=world.team_slug)
    lead = identity.get_user(db, username="lead")
    make_offering(db, owners, lead, slug=SECRET_SLUG, name="Vault", visibility=[owners.slug])
    member = identity.get_user(db, username="member")
    secret = requests_service.submit(db, actor=member, offering_slug=SECRET_SLUG, inputs=INPUTS)
    db.commit()
    return world, secret.id


@pytest.fixture
def world(db: Session, monkeypatch: pytest.MonkeyPatch) -> tuple[World, int]:
    monkeypatch.setattr(identity, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024))
    return build_world(db)


@pytest.fixture
def served(settings: Settings, world: tuple[World, int]) -> Any:
    app: FastAPI = create_app(settings)
    with app_on_thread(app, free_port()) as url:
        yield url


def denied(status: int) -> bool:
    return status in (401, 403, 404)


async def call_as(url: str, world: World, role: str, tool: str) -> tuple[int, str]:
    """The status a call answers (200 when done, the API's code when refused)."""
    arguments = EXPECTED[tool][0](world, role)
    if role == "anonymous":
        call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call"}
        call["params"] = {"name": tool, "arguments": arguments}  # type: ignore[assignment]
        answer = httpx2.post(
            f"{url}/mcp", json=call, headers={"Accept": "application/json, text/event-stream"}
        )
        return answer.status_code, answer.text[:120]
    async with connected(url, world.bearer[role], role) as agent:
        result = await agent.call(tool, **arguments)
    if not result.is_error:
        return 200, ""
    return refusal(result)


def test_every_tool_has_an_entry_in_the_authorization_table(
    served: str, world: tuple[World, int]
) -> None:
    async def names() -> set[str]:
        async with connected(served, world[0].bearer["consumer"]) as agent:
            return {tool.name for tool in (await agent.session.list_tools()).tools}

    listed = in_own_loop(names)
    assert sorted(listed - EXPECTED.keys()) == [], "add each tool to EXPECTED with its rule"
    assert sorted(EXPECTED.keys() - listed) == [], "EXPECTED names tools that no longer exist"
    assert {rule for _, rule in EXPECTED.values()} <= RULES.keys()


@pytest.mark.parametrize("tool", sorted(EXPECTED))
def test_each_kind_of_user_is_allowed_or_denied_each_tool_as_the_table_says(
    tool: str, served: str, world: tuple[World, int]
) -> None:
    allowed = RULES[EXPECTED[tool][1]]

    async def every_role() -> list[str]:
        wrong = []
        for role in ROLES:
            status, said = await call_as(served, world[0], role, tool)
            assert status < 500, (role, status, said)
            if denied(status) == (role in allowed):
                wrong.append(f"{role}: {status} {said!r}")
        return wrong

    wrong = in_own_loop(every_role)
    assert not wrong, f"{tool} ({EXPECTED[tool][1]}):\n" + "\n".join(wrong)


def test_a_read_token_cannot_submit_whoever_holds_it(
    served: str, world: tuple[World, int], db: Session
) -> None:
    tokens = {}
    for role in sorted(SIGNED_IN):
        user = identity.get_user(db, username=role)
        tokens[role] = identity.create_token(db, user=user, name="read", scopes=["read"]).value
    db.commit()
    arguments = {"offering": world[0].slug, "inputs": INPUTS, "idempotency_key": "read"}

    async def submit_all() -> dict[str, tuple[int, str]]:
        answers = {}
        for role, value in tokens.items():
            async with connected(served, value, role) as agent:
                answers[role] = refusal(await agent.call("submit_request", **arguments))
        return answers

    refused = in_own_loop(submit_all)
    assert set(refused.values()) == {(403, "this token lacks the 'request' scope")}
    assert "admin" in SCOPES and len(refused) == len(SIGNED_IN)


def test_no_tool_or_resource_shows_another_teams_restricted_offering_or_request(
    served: str, world: tuple[World, int]
) -> None:
    routes_world, secret_request = world

    async def look(role: str) -> dict[str, Any]:
        async with connected(served, routes_world.bearer[role], role) as agent:
            found = await agent.answer("search_offerings", query="vault")
            mine = await agent.answer("list_my_requests")
            described = await agent.call("describe_offering", slug=SECRET_SLUG)
            story = await agent.call("get_request", request_id=secret_request)
            resource_error = ""
            try:
                await agent.session.read_resource(f"servicebay://requests/{secret_request}")
            except Exception as error:  # the SDK raises the server's MCP error
                resource_error = str(error)
            return {
                "found": [o["slug"] for o in found["offerings"]],
                "mine": {r["id"] for r in mine["requests"]},
                "described": refusal(described)[0] if described.is_error else 200,
                "story": refusal(story)[0] if story.is_error else 200,
                "resource": resource_error,
            }

    async def everyone() -> dict[str, dict[str, Any]]:
        return {role: await look(role) for role in ("consumer", "other", "member")}

    seen = in_own_loop(everyone)
    for role in ("consumer", "other"):
        assert seen[role]["found"] == [], role
        assert secret_request not in seen[role]["mine"], role
        assert (seen[role]["described"], seen[role]["story"]) == (404, 404), role
        assert seen[role]["resource"], role
    assert seen["member"]["found"] == [SECRET_SLUG]
    assert seen["member"]["mine"] == {secret_request}
    assert (seen["member"]["described"], seen["member"]["story"]) == (200, 200)
    assert seen["member"]["resource"] == ""
