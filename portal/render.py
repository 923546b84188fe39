"""The one helper that renders a full page or, for htmx, one block of it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import markdown_it
import nh3
from fastapi import Request
from fastapi.responses import Response
from jinja2_fragments.fastapi import Jinja2Blocks
from markupsafe import Markup

from servicebay.core.paths import TEMPLATES_DIR

templates = Jinja2Blocks(directory=str(TEMPLATES_DIR))
_markdown = markdown_it.MarkdownIt("commonmark", {"html": False, "linkify": False})


def markdown(text: str) -> Markup:
    """Markdown rendered, then sanitised: only harmless tags and attributes survive."""
    html = nh3.clean(_markdown.render(text or ""), link_rel="noopener noreferrer nofollow")
    return Markup(html)


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


templates.env.filters["markdown"] = markdown
templates.env.filters["when"] = when


def is_htmx(request: Request) -> bool:
    return (
        request.headers.get("hx-request") == "true"
        and request.headers.get("hx-history-restore-request") != "true"
    )


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    block: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """Render ``name``; for an htmx request that names ``block``, only that block."""
    full_context = {
        "request": request,
        "user": getattr(request.state, "user", None),
        "csrf_token": getattr(request.state, "csrf_token", ""),
        **(context or {}),
    }
    block_name = block if block and is_htmx(request) else None
    response: Response = templates.TemplateResponse(
        request,
        name,
        full_context,
        status_code=status_code,
        block_name=block_name,
        headers=headers,
    )
    response.headers["Vary"] = "HX-Request"
    return response
