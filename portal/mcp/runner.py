"""One tool call: who calls (the API token), whether its scopes and rate allow it, the
work in one transaction, the Event that records it, and the answer or the refusal.

The token is looked up with the API's own lookup and checked with the API's own scope
rule (``core.identity``); a call counts against the same per-minute limits as the API.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker

from mcp.server.auth.middleware.auth_context import get_access_token
from servicebay.core import events, identity, ratelimit
from servicebay.core.database import transaction
from servicebay.core.errors import Invalid, ServicebayError, Unauthorized, detail_of
from servicebay.core.identity import User
from servicebay.core.settings import Settings
from servicebay.portal.deps import RATE_WINDOW

TOOL_CALLED = "agent.tool_called"
NO_TOKEN = "send an API token: a bearer token over HTTP, --token or SERVICEBAY_MCP_TOKEN on stdio"
BAD_TOKEN = "invalid, expired or revoked token"

Work = Callable[[Session, User], BaseModel]


@dataclass(frozen=True)
class Caller:
    user_id: int
    token_id: int
    token_name: str


@dataclass(frozen=True)
class Limit:
    """One of the API's per-minute limits, by the same name, so both faces share a count."""

    action: str
    per_minute: int


class ToolRunner:
    def __init__(
        self, sessions: sessionmaker[Session], settings: Settings, *, token: str | None = None
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.stdio_token = token

    def call(
        self, tool: str, scope: str, work: Work, *, limits: Sequence[Limit] = ()
    ) -> CallToolResult:
        """Run ``work`` as the caller; a refusal is a tool error saying why."""
        try:
            answer = self.answer(tool, scope, work, limits=limits)
        except ServicebayError as error:
            return refused(error)
        return CallToolResult(
            content=[TextContent(type="text", text=json.dumps(answer))],
            structured_content=answer,
        )

    def answer(
        self, tool: str, scope: str, work: Work, *, limits: Sequence[Limit] = ()
    ) -> dict[str, Any]:
        """The work's answer as JSON, or the ServicebayError that refused it."""
        caller = self._admit(tool, scope, limits)
        try:
            with transaction(self.sessions) as db:
                user = db.get(User, caller.user_id)
                if user is None:
                    raise Unauthorized(BAD_TOKEN)
                answer = work(db, user).model_dump(mode="json")
                self._record(db, caller, tool, "ok")
        except ServicebayError as error:
            with transaction(self.sessions) as db:
                self._record(db, caller, tool, type(error).__name__, str(error))
            raise
        return answer

    def _credential(self) -> str | None:
        """The bearer token the HTTP transport checked, or the one stdio was started with."""
        access = get_access_token()
        return access.token if access is not None else self.stdio_token

    def _admit(self, tool: str, scope: str, limits: Sequence[Limit]) -> Caller:
        """Who calls, if the token holds ``scope`` and no limit is reached. A refused call is
        recorded and counted too (so failing is no way around a limit), then raised."""
        value = self._credential()
        if not value:
            raise Unauthorized(NO_TOKEN)
        refusal: ServicebayError | None = None
        with transaction(self.sessions) as db:
            found = identity.user_for_token(db, value=value)
            if found is None:
                raise Unauthorized(BAD_TOKEN)
            user, token = found
            caller = Caller(user_id=user.id, token_id=token.id, token_name=token.name)
            try:
                identity.require_scope(list(token.scopes), scope)
                for limit in (Limit("tool_calls", self.settings.rate_limit_tool_calls), *limits):
                    ratelimit.hit(
                        db,
                        key=f"{limit.action}:user:{user.id}",
                        limit=limit.per_minute,
                        window=RATE_WINDOW,
                        what=limit.action.replace("_", " "),
                    )
            except ServicebayError as error:
                refusal = error
                self._record(db, caller, tool, type(error).__name__, str(error))
        if refusal is not None:
            raise refusal
        return caller

    def _record(
        self, db: Session, caller: Caller, tool: str, outcome: str, message: str = ""
    ) -> None:
        data: dict[str, Any] = {
            "tool": tool,
            "token_id": caller.token_id,
            "token": caller.token_name,
            "outcome": outcome,
        }
        if message:
            data["message"] = message[:500]
        events.record(db, type=TOOL_CALLED, actor_id=caller.user_id, data=data)


def refused(error: ServicebayError) -> CallToolResult:
    """A tool error with the API's status code and ``detail`` (each field's problem)."""
    detail = detail_of(error)
    text = str(error)
    if isinstance(error, Invalid) and error.problems:
        text = "; ".join(f"{field}: {said}" for field, said in error.problems.items())
    return CallToolResult(
        is_error=True,
        content=[TextContent(type="text", text=text)],
        structured_content={"status": error.status_code, "detail": detail},
    )
