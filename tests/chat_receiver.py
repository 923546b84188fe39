"""A real chat incoming-webhook receiver on 127.0.0.1 that checks each message's shape.

Like Slack and a Teams workflow, it refuses (400) a message it could not show, so a
message of the wrong shape dies instead of passing quietly. The checks are written here
from the two formats' documentation, independently of servicebay's own code:

- Slack: ``text`` (the notification fallback) and ``blocks``; each block of a known type;
  a ``section`` has ``text`` of type ``mrkdwn`` or ``plain_text``; an ``actions`` block has
  ``elements``, each a ``button`` with ``plain_text`` text and an absolute http(s) ``url``.
- Teams (Workflows, "When a Teams webhook request is received"): ``type: message`` and
  ``attachments``, each with ``contentType: application/vnd.microsoft.card.adaptive`` and
  ``content``, an AdaptiveCard with ``version``, a ``body`` of elements with a ``type`` and
  ``actions`` of type ``Action.OpenUrl`` with a ``title`` and an absolute ``url``.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

SLACK_BLOCKS = {"section", "actions", "context", "header", "divider"}
CARD_ELEMENTS = {"TextBlock", "FactSet", "ColumnSet", "Container", "Image"}


@dataclass
class Message:
    path: str
    body: dict[str, Any]
    problems: list[str]
    status: int  # what the receiver answered


@dataclass
class ChatReceiver:
    chat_format: str  # "slack" or "teams"
    failures: list[int] = field(default_factory=list)  # statuses to answer first, in order
    messages: list[Message] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def url(self, path: str = "/services/T000/B000/secret-part") -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    @property
    def accepted(self) -> list[Message]:
        """The messages answered with success (what a channel would show)."""
        return [m for m in self.messages if m.status < 300]

    def __enter__(self) -> ChatReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                body = json.loads(raw)
                check = check_teams if receiver.chat_format == "teams" else check_slack
                problems = check(body)
                failing = receiver.failures.pop(0) if receiver.failures else None
                if failing:
                    status, answer = failing, b"temporarily unavailable"
                elif problems:
                    status, answer = 400, "; ".join(problems).encode()
                else:
                    status, answer = (202, b"") if receiver.chat_format == "teams" else (200, b"ok")
                receiver.messages.append(Message(self.path, body, problems, status))
                self.send_response(status)
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()


def _absolute(url: object) -> bool:
    parts = urlsplit(str(url))
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def check_slack(body: dict[str, Any]) -> list[str]:
    problems = []
    if not isinstance(body.get("text"), str) or not body["text"]:
        problems.append("text (the notification fallback) is missing")
    blocks = body.get("blocks")
    if not isinstance(blocks, list) or not blocks:
        return [*problems, "blocks are missing"]
    for block in blocks:
        kind = block.get("type")
        if kind not in SLACK_BLOCKS:
            problems.append(f"unknown block type {kind!r}")
        if kind == "section" and block.get("text", {}).get("type") not in ("mrkdwn", "plain_text"):
            problems.append("a section needs text of type mrkdwn or plain_text")
        if kind == "actions":
            for element in block.get("elements") or [None]:
                if not element or element.get("type") != "button":
                    problems.append("actions hold buttons")
                    continue
                if element.get("text", {}).get("type") != "plain_text":
                    problems.append("a button's text is plain_text")
                if not _absolute(element.get("url")):
                    problems.append(f"a button's url is absolute, not {element.get('url')!r}")
    return problems


def check_teams(body: dict[str, Any]) -> list[str]:
    if body.get("type") != "message":
        return ["type must be 'message'"]
    attachments = body.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return ["attachments are missing"]
    problems = []
    for attachment in attachments:
        if attachment.get("contentType") != "application/vnd.microsoft.card.adaptive":
            problems.append("an attachment is an Adaptive Card")
        card = attachment.get("content") or {}
        if card.get("type") != "AdaptiveCard" or not card.get("version"):
            problems.append("content is an AdaptiveCard with a version")
        for element in card.get("body") or [None]:
            if not element or element.get("type") not in CARD_ELEMENTS:
                problems.append(f"unknown card element {element!r}")
        for action in card.get("actions", []):
            if action.get("type") != "Action.OpenUrl" or not action.get("title"):
                problems.append("actions are Action.OpenUrl with a title")
            if not _absolute(action.get("url")):
                problems.append(f"an action's url is absolute, not {action.get('url')!r}")
    return problems


def buttons(message: Message) -> dict[str, str]:
    """A message's buttons: label → URL, in either format."""
    body = message.body
    if body.get("type") == "message":
        card = body["attachments"][0]["content"]
        return {a["title"]: a["url"] for a in card.get("actions", [])}
    found: dict[str, str] = {}
    for block in body.get("blocks", []):
        if block.get("type") == "actions":
            found |= {e["text"]["text"]: e["url"] for e in block["elements"]}
    return found


def title(message: Message) -> str:
    body = message.body
    if body.get("type") == "message":
        return str(body["attachments"][0]["content"]["body"][0]["text"])
    return str(body["text"])
