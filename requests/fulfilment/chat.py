"""Chat notifications, posted by the fulfilment engine to chat incoming webhooks.

A chat run's payload holds what to say and the destination's id, never its URL: the worker
reads the URL from the destination when the attempt starts. Two formats:

- ``slack``: a Slack message, ``text`` (the notification's fallback) and Block Kit
  ``blocks``: a section with the message and its facts, and an ``actions`` block of link
  buttons back to the portal.
- ``teams``: what the Microsoft Teams Workflows trigger "When a Teams webhook request is
  received" takes: ``{"type": "message", "attachments": [...]}`` with one Adaptive Card
  (``application/vnd.microsoft.card.adaptive``) whose ``Action.OpenUrl`` buttons lead back.
"""

from __future__ import annotations

import json
from typing import Any

from servicebay.catalog.fulfilment import webhook
from servicebay.catalog.fulfilment.outcome import Outcome
from servicebay.core.outbound import OutboundPolicy

TIMEOUT_SECONDS = 10.0
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
ADAPTIVE_CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
ADAPTIVE_CARD_VERSION = "1.4"  # what Teams renders in channel posts of workflows
RETRYABLE = {408, 425, 429}


def message(payload: dict[str, Any], *, chat_format: str, base_url: str) -> dict[str, Any]:
    """The body to post for this notification in this chat format."""
    links = [
        (str(link["label"]), base_url.rstrip("/") + str(link["path"]))
        for link in payload.get("links", [])
    ]
    details = [(str(name), str(value)) for name, value in payload.get("details", [])]
    text = str(payload["message"])
    if chat_format == "teams":
        return _teams(text, details, links)
    return _slack(text, details, links)


def send(
    spec: dict[str, Any],
    *,
    base_url: str,
    policy: OutboundPolicy,
    connections: webhook.Connections,
) -> Outcome:
    """Post one notification; temporary failures retry, refusals end the run."""
    url, host = spec.get("url"), spec.get("host", "?")
    if not url:
        return Outcome.fatal("the chat destination was removed before the message went out")
    body = json.dumps(
        message(spec, chat_format=str(spec["format"]), base_url=base_url), separators=(",", ":")
    ).encode()
    shown = f"the chat webhook at {host}"  # the URL itself is a secret
    answer = webhook.post(
        str(url),
        body=body,
        headers={
            "content-type": "application/json",
            "accept-encoding": "identity",
            "user-agent": webhook.USER_AGENT,
        },
        timeout=TIMEOUT_SECONDS,
        policy=policy,
        connections=connections,
        shown=shown,
    )
    if isinstance(answer, Outcome):
        return answer
    excerpt = answer.body[: webhook.EXCERPT_CHARACTERS].decode("utf-8", "replace")
    if 200 <= answer.status < 300:
        return Outcome.succeeded(message=f"posted to {shown} ({answer.status})")
    if 300 <= answer.status < 400:
        return Outcome.fatal(f"{shown} answered {answer.status}; redirects are not followed")
    if answer.status in RETRYABLE or answer.status >= 500:
        return Outcome.retry(f"{shown} answered {answer.status}: {excerpt}")
    return Outcome.fatal(f"{shown} refused the message with {answer.status}: {excerpt}")


def _slack(
    text: str, details: list[tuple[str, str]], links: list[tuple[str, str]]
) -> dict[str, Any]:
    lines = [f"*{_slack_escape(text)}*"]
    lines += [f"*{_slack_escape(name)}:* {_slack_escape(value)}" for name, value in details]
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:3000]}}
    ]
    if links:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": label[:75]},
                        "url": url,
                        "action_id": f"open-{position}",
                        **({"style": "primary"} if position == 0 else {}),
                    }
                    for position, (label, url) in enumerate(links)
                ],
            }
        )
    return {"text": _slack_escape(text), "blocks": blocks}


def _slack_escape(text: str) -> str:
    """Slack reads <…> as links and mentions: only these three characters are escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _teams(
    text: str, details: list[tuple[str, str]], links: list[tuple[str, str]]
) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": text, "wrap": True, "weight": "Bolder", "size": "Medium"}
    ]
    if details:
        body.append(
            {
                "type": "FactSet",
                "facts": [{"title": name, "value": value} for name, value in details],
            }
        )
    card = {
        "$schema": ADAPTIVE_CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": ADAPTIVE_CARD_VERSION,
        "body": body,
        "actions": [{"type": "Action.OpenUrl", "title": label, "url": url} for label, url in links],
    }
    return {
        "type": "message",
        "attachments": [{"contentType": ADAPTIVE_CARD, "contentUrl": None, "content": card}],
    }
