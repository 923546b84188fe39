"""The agent tools over MCP, driven by the SDK's own client against a running servicebay."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import anyio
import httpx2
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from servicebay.core import clock, identity
from servicebay.core.events import Event
from servicebay.core.identity import Role
from servicebay.core.settings import Settings
from servicebay.portal.app import create_app
from servicebay.portal.mcp.runner import TOOL_CALLED
from servicebay.requests import service as requests_service
from servicebay.requests.fulfilment.worker import Worker
from servicebay.requests.models import Request
from tests.agents import connected, refusal
from tests.factories import make_offering, make_team, make_user
from tests.receiver import Receiver
from tests.servers import app_on_thread, free_port, in_own_loop

SECRET = "whsec_c2VydmljZWJheS10ZXN0LXNlY3JldA=="
OWNER_LEADS_APPROVE = {"steps": [{"name": "Platform check", "decider": "owner_leads"}]}
FULFILMENT_SECONDS = 60.0
READ_ONLY = {
    "search_offerings",
    "describe_offering",
    "validate_request",
    "list_field_options",
    "list_my_requests",
    "get_request",
    "list_pending_approvals",
    "list_demands",
    "list_failed_runs",
}


def token(db: Session, username: str, scopes: list[str]) -> str:
    user = identity.get_user(db, username=username)
    return identity.create_token(db, user=user, name=f"{username}-agent", scopes=scopes).value


def test_an_agent_finds_asks_and_follows_a_request_until_its_webhook_fulfils_it(
    db: Session, settings: Settings, tmp_path: Path
) -> None:
    platform = make_team(db, "platform")
    pat = make_user(db, "pat", team=platform, role=Role.LEAD)
    make_user(db, "casey", team=make_team(db, "payments"))
    with Receiver(secret=SECRET, default=(200, {"outputs": {"host": "db-7.internal"}})) as hook:
        make_offering(
            db,
            platform,
            pat,
            slug="postgres",
            name="PostgreSQL database",
            approval_policy=OWNER_LEADS_APPROVE,
            fulfilment={"kind": "webhook", "url": hook.url},
            webhook_secret=SECRET,
            cost=40.0,
            quota={"count": 5, "period_days": 30},
        )
        casey_token = token(db, "casey", ["read", "request"])
        pat_token = token(db, "pat", ["read", "request"])
        db.commit()
        app = create_app(settings, run_worker=True)
        with app_on_thread(app, free_port()) as url:
            transcript = in_own_loop(story, url, casey_token, pat_token)
        assert len(hook.deliveries) == 1 and hook.deliveries[0].signature_valid
        assert hook.deliveries[0].body["type"] == "request.fulfil"

    (tmp_path / "transcript.txt").write_text("\n".join(transcript))
    print("\n".join(["", "MCP story transcript:", *transcript]))
    db.expire_all()
    called = db.scalars(select(Event).where(Event.type == TOOL_CALLED).order_by(Event.id)).all()
    tools_called = [line.split(": ", 1)[1].split("(", 1)[0] for line in transcript]
    assert {event.data["tool"] for event in called} == set(tools_called)
    assert len(called) >= len(tools_called)
    assert {event.actor.username for event in called if event.actor} == {"casey", "pat"}
    assert all(
        event.data["token_id"] and event.data["token"].endswith("-agent") for event in called
    )
    assert db.scalar(select(func.count(Request.id))) == 1


async def story(url: str, casey_token: str, pat_token: str) -> list[str]:
    transcript: list[str] = []
    async with (
        connected(url, casey_token, "casey", transcript) as casey,
        connected(url, pat_token, "pat", transcript) as pat,
    ):
        found = await casey.answer("search_offerings", query="postgresql database")
        assert [o["slug"] for o in found["offerings"]] == ["postgres"]

        described = await casey.answer("describe_offering", slug="postgres")
        assert described["form_schema"]["required"] == ["name", "size"]
        assert described["form_schema"]["properties"]["size"]["enum"] == ["small", "large"]
        assert described["offering"]["approval_policy"]["steps"][0]["name"] == "Platform check"
        assert described["offering"]["sle"] == {"percent": 85.0, "within_hours": 48.0}
        assert described["offering"]["cost"] == 40.0
        assert (described["requesting_team"], described["quota_left"]) == ("payments", 5)

        bad = await casey.answer(
            "validate_request", offering="postgres", inputs={"name": "Ledger DB"}
        )
        assert bad["valid"] is False
        assert bad["problems"] == [
            {"field": "name", "message": "does not have the expected format"},
            {"field": "size", "message": "is required"},
        ]
        inputs = {"name": "ledger", "size": "small"}
        good = await casey.answer("validate_request", offering="postgres", inputs=inputs)
        assert good == {"valid": True, "inputs": inputs, "problems": [], "message": ""}

        submitted = await casey.answer(
            "submit_request", offering="postgres", inputs=inputs, idempotency_key="ledger-1"
        )
        request = submitted["request"]
        assert (request["status"], submitted["replayed"]) == ("pending_approval", False)
        again = await casey.answer(
            "submit_request", offering="postgres", inputs=inputs, idempotency_key="ledger-1"
        )
        assert (again["request"]["id"], again["replayed"]) == (request["id"], True)

        denied = await casey.call("list_pending_approvals")
        assert denied.structured_content == {"approvals": []}
        inbox = await pat.answer("list_pending_approvals")
        (step,) = inbox["approvals"]
        assert (step["request_id"], step["requester"]) == (request["id"], "casey")
        no_reason = await pat.call("decide_approval", approval_id=step["id"], decision="reject")
        assert refusal(no_reason) == (422, "a rejection needs a reason")
        decided = await pat.answer("decide_approval", approval_id=step["id"], decision="approve")
        assert decided["status"] == "approved"

        # The webhook is called by the server's own worker; wait for it, unrecorded.
        deadline = time.monotonic() + FULFILMENT_SECONDS
        while time.monotonic() < deadline:
            polled = await casey.session.call_tool("get_request", {"request_id": request["id"]})
            if (polled.structured_content or {})["request"]["status"] != "in_fulfilment":
                break
            await anyio.sleep(0.2)
        followed = await casey.answer("get_request", request_id=request["id"])
        assert followed["request"]["status"] == "completed"
        assert followed["request"]["outputs"] == {"host": "db-7.internal"}
        assert [e["type"] for e in followed["timeline"]][:2] == [
            "request.submitted",
            "request.pending_approval",
        ]
        assert followed["approvals"][0]["decided_by"] == "pat"
        (run,) = followed["runs"]
        assert run["status"] == "succeeded" and run["log"], run
        mine = await casey.answer("list_my_requests")
        assert [r["id"] for r in mine["requests"]] == [request["id"]]
    return transcript


def test_the_tools_say_which_only_read_and_what_each_takes_and_answers(
    db: Session, settings: Settings
) -> None:
    make_user(db, "casey", team=make_team(db, "payments"))
    casey_token = token(db, "casey", ["read"])
    db.commit()

    async def listing(url: str) -> None:
        async with connected(url, casey_token) as agent:
            tools = (await agent.session.list_tools()).tools
            assert {t.name for t in tools if t.annotations and t.annotations.read_only_hint} == (
                READ_ONLY
            )
            for tool in tools:
                assert tool.description and len(tool.description) <= 100, tool.name
                assert tool.input_schema["type"] == "object"
                assert tool.output_schema and tool.output_schema["type"] == "object", tool.name
            submit = next(t for t in tools if t.name == "submit_request")
            assert submit.input_schema["required"] == ["offering", "inputs", "idempotency_key"]
            templates = (await agent.session.list_resource_templates()).resource_templates
            assert {t.uri_template for t in templates} == {
                "servicebay://offerings/{slug}",
                "servicebay://requests/{request_id}",
            }

    with app_on_thread(create_app(settings), free_port()) as url:
        in_own_loop(listing, url)


def test_without_a_valid_token_the_endpoint_answers_401_and_does_nothing(
    db: Session, settings: Settings
) -> None:
    casey = make_user(db, "casey", team=make_team(db, "payments"))
    revoked = identity.create_token(db, user=casey, name="old", scopes=["read"])
    identity.revoke_token(db, user=casey, token_id=revoked.token.id)
    expiring = identity.create_token(
        db, user=casey, name="soon", scopes=["read"], expires_in_days=1
    )
    db.commit()
    listing = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Accept": "application/json, text/event-stream"}

    with app_on_thread(create_app(settings), free_port()) as url:
        answers = [httpx2.post(f"{url}/mcp", json=listing, headers=headers)]
        for value in ("sb_not-a-token", revoked.value):
            bearer = {**headers, "Authorization": f"Bearer {value}"}
            answers.append(httpx2.post(f"{url}/mcp", json=listing, headers=bearer))
        clock.freeze(clock.now() + timedelta(days=2))
        try:
            bearer = {**headers, "Authorization": f"Bearer {expiring.value}"}
            answers.append(httpx2.post(f"{url}/mcp", json=listing, headers=bearer))
        finally:
            clock.reset()

    for answer in answers:
        assert answer.status_code == 401, answer.text
        assert answer.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
        assert answer.json()["error"] == "invalid_token"
    db.expire_all()
    assert db.scalar(select(func.count(Event.id)).where(Event.type == TOOL_CALLED)) == 0


def test_a_token_without_the_scope_is_told_which_scope_is_missing_and_nothing_is_done(
    db: Session, settings: Settings
) -> None:
    platform = make_team(db, "platform")
    make_offering(db, platform, make_user(db, team=platform, role=Role.LEAD), slug="postgres")
    make_user(db, "casey", team=make_team(db, "payments"))
    read_only = token(db, "casey", ["read"])
    db.commit()
    arguments = {"offering": "postgres", "inputs": {"name": "ledger", "size": "small"}}

    async def attempt(url: str) -> None:
        async with connected(url, read_only) as agent:
            result = await agent.call("submit_request", idempotency_key="k", **arguments)
            assert refusal(result) == (403, "this token lacks the 'request' scope")
            filed = await agent.call("file_demand", title="A queue")
            assert refusal(filed) == (403, "this token lacks the 'request' scope")
            retried = await agent.call("retry_request", request_id=1)
            assert refusal(retried) == (403, "this token lacks the 'ops' scope")
            assert not (await agent.call("search_offerings")).is_error

    with app_on_thread(create_app(settings), free_port()) as url:
        in_own_loop(attempt, url)
    db.expire_all()
    assert db.scalar(select(func.count(Request.id))) == 0
    outcomes = db.scalars(select(Event.data).where(Event.type == TOOL_CALLED).order_by(Event.id))
    assert [o["outcome"] for o in outcomes] == ["ScopeDenied", "ScopeDenied", "ScopeDenied", "ok"]


def test_tool_calls_are_rate_limited_per_person_and_refused_calls_count_too(
    db: Session, settings: Settings
) -> None:
    make_user(db, "casey", team=make_team(db, "payments"))
    casey_token = token(db, "casey", ["read"])
    db.commit()
    limited = settings.model_copy(update={"rate_limit_tool_calls": 3})

    async def calls(url: str) -> None:
        async with connected(url, casey_token) as agent:
            assert refusal(await agent.call("get_request", request_id=99))[0] == 404
            for _ in range(2):
                assert not (await agent.call("list_my_requests")).is_error
            status, said = refusal(await agent.call("list_my_requests"))
            assert status == 429 and said.startswith("too many tool calls; try again in")

    clock.freeze(clock.now().replace(second=1))
    try:
        with app_on_thread(create_app(limited), free_port()) as url:
            in_own_loop(calls, url)
    finally:
        clock.reset()


def test_invalid_inputs_get_the_field_messages_the_api_gives(
    db: Session, settings: Settings
) -> None:
    platform = make_team(db, "platform")
    make_offering(db, platform, make_user(db, team=platform, role=Role.LEAD), slug="postgres")
    make_user(db, "casey", team=make_team(db, "payments"))
    casey_token = token(db, "casey", ["read", "request"])
    db.commit()
    inputs = {"name": "Ledger DB", "colour": "red"}

    async def submit(url: str) -> dict[str, object]:
        async with connected(url, casey_token) as agent:
            result = await agent.call(
                "submit_request", offering="postgres", inputs=inputs, idempotency_key="k"
            )
            assert result.is_error
            return result.structured_content or {}

    app = create_app(settings)
    with app_on_thread(app, free_port()) as url:
        said = in_own_loop(submit, url)
        api = httpx2.post(
            f"{url}/api/v1/requests",
            json={"offering": "postgres", "inputs": inputs},
            headers={"Authorization": f"Bearer {casey_token}"},
        )
    assert api.status_code == 422
    assert said == {"status": 422, "detail": api.json()["detail"]}
    assert {p["field"] for p in api.json()["detail"]} == {"name", "size", "colour"}


def test_servicebay_mcp_serves_the_tools_over_stdio_with_a_token_from_the_setting(
    db: Session, settings: Settings, tmp_path: Path
) -> None:
    platform = make_team(db, "platform")
    make_offering(db, platform, make_user(db, team=platform, role=Role.LEAD), slug="postgres")
    make_user(db, "casey", team=make_team(db, "payments"))
    casey_token = token(db, "casey", ["read"])
    db.commit()
    command = [sys.executable, "-m", "servicebay.portal.cli", "mcp"]
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "SERVICEBAY_DATABASE_URL": settings.effective_database_url,
        "SERVICEBAY_DATA_DIR": str(tmp_path),
        "SERVICEBAY_SECRET_KEY": settings.secret_key,
    }

    async def over_stdio() -> list[str]:
        server = StdioServerParameters(
            command=command[0],
            args=command[1:],
            env={**environment, "SERVICEBAY_MCP_TOKEN": casey_token},
            cwd=tmp_path,
        )
        async with stdio_client(server) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            found = await session.call_tool("search_offerings", {"query": "database"})
            submitted = await session.call_tool(
                "submit_request",
                {"offering": "postgres", "inputs": {}, "idempotency_key": "k"},
            )
            assert submitted.is_error
            assert "lacks the 'request' scope" in getattr(submitted.content[0], "text", "")
            return [o["slug"] for o in (found.structured_content or {})["offerings"]]

    assert in_own_loop(over_stdio) == ["postgres"]
    refused = subprocess.run(
        command, env=environment, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 2 and "SERVICEBAY_MCP_TOKEN" in refused.stderr
    revoked = subprocess.run(
        [*command, "--token", "sb_no-such-token"],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert revoked.returncode == 1 and "invalid, expired or revoked" in revoked.stderr


def test_an_ops_agent_lists_its_teams_failed_runs_and_retries_one(
    db: Session, settings: Settings, sessions
) -> None:
    platform = make_team(db, "platform")
    pat = make_user(db, "pat", team=platform, role=Role.LEAD)
    make_user(db, "casey", team=make_team(db, "payments"))
    with Receiver(secret=SECRET, replies=[(500, "boom")], default=(200, {"outputs": {}})) as hook:
        make_offering(
            db,
            platform,
            pat,
            slug="postgres",
            fulfilment={"kind": "webhook", "url": hook.url, "max_attempts": 1},
            webhook_secret=SECRET,
        )
        casey = identity.get_user(db, username="casey")
        failing = requests_service.submit(
            db, actor=casey, offering_slug="postgres", inputs={"name": "x", "size": "small"}
        )
        ops_token = token(db, "pat", ["read", "ops"])
        read_token = token(db, "pat", ["read"])
        db.commit()
        Worker(sessions, settings).run_until_idle()

        async def recover(url: str) -> None:
            async with connected(url, read_token) as reader, connected(url, ops_token) as ops:
                listed = await reader.answer("list_failed_runs", team="platform")
                (failed,) = listed["failed"]
                assert failed["request"]["id"] == failing.id
                assert "500" in (failed["last_error"] or "")
                assert refusal(await reader.call("retry_request", request_id=failing.id)) == (
                    403,
                    "this token lacks the 'ops' scope",
                )
                retried = await ops.answer("retry_request", request_id=failing.id)
                assert retried["status"] == "in_fulfilment"
                gone = await reader.answer("list_failed_runs", team="platform")
                assert gone == {"failed": []}
                elsewhere = await reader.call("list_failed_runs", team="payments")
                assert refusal(elsewhere)[0] == 404

        with app_on_thread(create_app(settings), free_port()) as url:
            in_own_loop(recover, url)
