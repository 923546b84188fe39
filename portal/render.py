"""The one helper that renders a full page or, for htmx, one block of it."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote

import markdown_it
import nh3
from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from jinja2 import pass_context
from jinja2_fragments.fastapi import Jinja2Blocks
from markupsafe import Markup
from starlette.datastructures import URL
from starlette.routing import BaseRoute, NoMatchFound

from servicebay.core.errors import Invalid
from servicebay.core.paths import TEMPLATES_DIR
from servicebay.portal.form_tokens import form_tokens, remember_outcome

templates = Jinja2Blocks(directory=str(TEMPLATES_DIR))
# Templates ship with the package and do not change under a running process: no file
# check on every render.
templates.env.auto_reload = False
_markdown = markdown_it.MarkdownIt("commonmark", {"html": False, "linkify": False})


def markdown(text: str) -> Markup:
    """Markdown rendered, then sanitised: only harmless tags and attributes survive."""
    html = nh3.clean(_markdown.render(text or ""), link_rel="noopener noreferrer nofollow")
    return Markup(html)


def duration_words(hours: float) -> str:
    """A promised duration as people say it: "2 days", "4 hours", "30 minutes"."""
    if hours >= 24 and hours % 24 == 0:
        days = int(hours // 24)
        return f"{days} day{'s' if days != 1 else ''}"
    if hours >= 1:
        return f"{hours:g} hour{'s' if hours != 1 else ''}"
    return f"{round(hours * 60)} minutes"


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


EVENT_WORDS = {
    "request.submitted": "Submitted",
    "request.pending_approval": "Waiting for approval",
    "request.rejected": "Rejected",
    "request.in_fulfilment": "Fulfilment started",
    "request.completed": "Completed",
    "request.failed": "Fulfilment failed",
    "request.cancelled": "Cancelled",
    "request.commented": "Comment added",
    "request.rated": "Rated",
    "request.rating_changed": "Rating changed",
    "approval.approved": "Approved",
    "approval.rejected": "Rejected",
    "task.created": "Task on the team board",
    "task.doing": "Work started",
    "task.done": "Task done",
    "task.assigned": "Task assigned",
    "run.cancelled": "Automation stopped",
    "run.attempt_failed": "Automation attempt failed",
    "instance.provisioning": "Instance being provisioned",
    "instance.active": "Instance active",
    "instance.updating": "Instance being changed",
    "instance.failed": "Instance failed",
    "instance.retiring": "Instance being decommissioned",
    "instance.retired": "Instance retired",
    "instance.operation_requested": "Operation requested",
    "instance.operation_closed": "Operation closed",
    "instance.reminded": "Owner reminded of the expiry",
    "instance.extended": "Lease extended",
    "instance.expired": "Expired: decommission requested",
}


def happened(event: Any) -> str:
    """An Event of a request's timeline in words, with its reason or step when it has one."""
    words = EVENT_WORDS.get(event.type) or event.type.split(".")[-1].replace("_", " ").capitalize()
    data = event.data or {}
    if event.type.startswith("approval.") and data.get("step"):
        words += f" at step “{data['step']}”"
    if event.type == "run.attempt_failed" and data.get("attempt"):
        words = f"Automation attempt {data['attempt']} failed"
    if event.type.startswith("instance.") and data.get("operation"):
        words += f" ({data['operation']})"
    if event.type in ("request.rated", "request.rating_changed") and data.get("score"):
        words += f" {data['score']} of 5"
    return words


def reason_of(event: Any) -> str:
    data = event.data or {}
    return str(data.get("reason") or "")


def progress_text(message: str) -> str:
    """A fulfilment log line as the requester reads it: without the worker's machine name."""
    text = re.sub(r" by worker \S+$", "", message).removeprefix("progress: ")
    return text[:1].upper() + text[1:]


def is_link(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("https://", "http://"))


@pass_context
def url_for(context: dict[str, Any], name: str, /, **path_params: Any) -> URL:
    """The templates' ``url_for``: see url_of."""
    return url_of(context["request"], name, **path_params)


def url_of(request: Request, name: str, /, **path_params: Any) -> URL:
    """Starlette's ``url_for`` without trying every route in turn: a page holds dozens of
    links, and each one searched a hundred routes, raising an exception per miss."""
    route = _named_routes(request.app).get(name)
    if route is None:
        return request.url_for(name, **path_params)
    try:
        path = route.url_path_for(name, **path_params)
    except NoMatchFound:  # another route of the same name may take these parameters
        return request.url_for(name, **path_params)
    return path.make_absolute_url(base_url=request.base_url)


def _named_routes(app: Any) -> dict[str, BaseRoute]:
    """The first route of each name, as Starlette's search finds it; kept by the app."""
    named: dict[str, BaseRoute] | None = getattr(app.state, "named_routes", None)
    if named is None:
        named = {}
        for route in app.routes:
            named.setdefault(getattr(route, "name", None) or "", route)
        app.state.named_routes = named
    return named


templates.env.globals["url_for"] = url_for
templates.env.globals["form_tokens"] = form_tokens
templates.env.filters["markdown"] = markdown
templates.env.filters["when"] = when
templates.env.filters["duration_words"] = duration_words
templates.env.filters["happened"] = happened
templates.env.filters["reason_of"] = reason_of
templates.env.filters["progress_text"] = progress_text
templates.env.tests["link"] = is_link


FLASH_COOKIE = "servicebay_flash"
FLASH_KINDS = ("info", "success", "warning", "error")


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
    block_name = block if block and is_htmx(request) else None
    shown_flash = None if block_name else _flash_of(request)
    full_context = {
        "request": request,
        "user": getattr(request.state, "user", None),
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "unread": getattr(request.state, "unread", 0),
        "tabs": getattr(request.state, "tabs", []),
        "flash": shown_flash,
        **(context or {}),
    }
    response: Response = templates.TemplateResponse(
        request,
        name,
        full_context,
        status_code=status_code,
        block_name=block_name,
        headers=headers,
    )
    response.headers["Vary"] = "HX-Request"
    if shown_flash is not None:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def render_part(request: Request, name: str, context: dict[str, Any]) -> Markup:
    """A part of a page rendered on its own, to be kept and shown to many viewers: it sees
    the request (for its links) and ``context``, never who is looking."""
    return Markup(templates.env.get_template(name).render({"request": request, **context}))


def see_other(
    request: Request, target: str, *, notice: str = "", kind: str = "success"
) -> Response:
    """After a successful post: 303 to ``target`` (HX-Redirect for htmx), with a flash message
    shown once on the next full page. A repeat of the post's form lands here too."""
    remember_outcome(request, target, notice=notice, kind=kind)
    response: Response
    if request.headers.get("hx-request") == "true":
        response = Response(status_code=204, headers={"HX-Redirect": target})
    else:
        response = RedirectResponse(target, status_code=303)
    if notice:
        response.set_cookie(
            FLASH_COOKIE,
            _signed_flash(request, f"{kind}|{notice}"),
            max_age=60,
            path="/",
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
    return response


def _flash_key(request: Request) -> bytes:
    """A key of its own for flash messages, derived from the server's secret key."""
    key: bytes | None = getattr(request.app.state, "flash_key", None)
    if key is None:
        secret = request.app.state.settings.resolved_secret_key()
        key = hmac.new(secret.encode(), b"servicebay flash messages", hashlib.sha256).digest()
        request.app.state.flash_key = key
    return key


def _signed_flash(request: Request, text: str) -> str:
    """The flash cookie's value: the text with an HMAC, so only the server can write one."""
    signature = hmac.new(_flash_key(request), text.encode(), hashlib.sha256).hexdigest()
    return quote(f"{signature}.{text}")


def _flash_of(request: Request) -> dict[str, str] | None:
    """The message a redirect of this server left; anything else in the cookie is ignored."""
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    signature, _, text = unquote(raw).partition(".")
    expected = hmac.new(_flash_key(request), text.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        return None
    kind, _, message = text.partition("|")
    if kind not in FLASH_KINDS or not message:
        return None
    return {"kind": kind, "message": message[:500]}


def problem_sentence(refused: Invalid) -> str:
    """An Invalid's problems as one sentence for a flash message."""
    said = "; ".join(refused.problems.values()) or str(refused)
    return said[:1].upper() + said[1:] + "."
