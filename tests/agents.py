"""An MCP client for the tests: the SDK's own Streamable HTTP client and ClientSession,
talking to a running servicebay, with a record of every call for a transcript."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx2
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult


@dataclass
class Agent:
    """One MCP session as one API token's holder, remembering what it called."""

    session: ClientSession
    who: str
    transcript: list[str] = field(default_factory=list)

    async def call(self, tool: str, **arguments: Any) -> CallToolResult:
        result = await self.session.call_tool(tool, arguments)
        self.transcript.append(
            f"{self.who}: {tool}({json.dumps(arguments, sort_keys=True)}) -> {summary(result)}"
        )
        return result

    async def answer(self, tool: str, **arguments: Any) -> dict[str, Any]:
        """The structured answer of a call that must succeed."""
        result = await self.call(tool, **arguments)
        assert not result.is_error, (tool, result.content)
        assert result.structured_content is not None
        return result.structured_content


def summary(result: CallToolResult, width: int = 160) -> str:
    text = json.dumps(result.structured_content) if result.structured_content else ""
    if not text and result.content:
        text = getattr(result.content[0], "text", "")
    said = ("ERROR " if result.is_error else "") + text
    return said if len(said) <= width else said[: width - 1] + "…"


@asynccontextmanager
async def connected(
    base_url: str, token: str | None, who: str = "agent", transcript: list[str] | None = None
) -> AsyncIterator[Agent]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300)) as http,
        streamable_http_client(f"{base_url}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield Agent(session=session, who=who, transcript=[] if transcript is None else transcript)


def refusal(result: CallToolResult) -> tuple[int, str]:
    """A refused call's status code (the API's) and what it said."""
    assert result.is_error, result.structured_content
    content = result.structured_content or {}
    return int(content.get("status", 0)), getattr(result.content[0], "text", "")
