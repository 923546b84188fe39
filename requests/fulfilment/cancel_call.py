"""The signed call that tells a webhook step's receiver that its request was cancelled.

It is a run of its own (kind ``cancel``): durable, retried with backoff, and signed like
the step's delivery, with the same Standard Webhooks headers."""

from __future__ import annotations

import json

from servicebay.catalog.fulfilment import webhook
from servicebay.catalog.fulfilment.context import FulfilmentContext
from servicebay.catalog.fulfilment.outcome import Outcome
from servicebay.core import clock
from servicebay.core.outbound import OutboundPolicy
from servicebay.core.signing import sign

CANCEL_EVENT = "request.cancel"
TIMEOUT_SECONDS = 10.0


def envelope(context: FulfilmentContext, *, timestamp: int) -> dict[str, object]:
    """The body of the cancel call; see docs/pipelines.md."""
    spec = context.spec
    return {
        "type": CANCEL_EVENT,
        "timestamp": timestamp,
        "data": {
            "request": {"id": context.request_id},
            "run": {"id": spec.get("run"), "attempt": spec.get("attempt")},
            "step": {"name": spec.get("step"), "position": spec.get("position")},
            "reason": spec.get("reason") or "",
        },
    }


def send(
    context: FulfilmentContext, *, policy: OutboundPolicy, connections: webhook.Connections
) -> Outcome:
    url = str(context.spec.get("url") or "")
    timestamp = int(clock.now().timestamp())
    message_id = f"cancel-{context.run_id}"
    body = json.dumps(envelope(context, timestamp=timestamp), separators=(",", ":")).encode()
    headers = {
        "content-type": "application/json",
        "accept-encoding": "identity",
        "user-agent": webhook.USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
    }
    if context.secret:
        headers["webhook-signature"] = sign(
            secret=context.secret, message_id=message_id, timestamp=timestamp, body=body
        )
    answer = webhook.post(
        url,
        body=body,
        headers=headers,
        timeout=TIMEOUT_SECONDS,
        policy=policy,
        connections=connections,
    )
    if isinstance(answer, Outcome):
        return answer
    if 200 <= answer.status < 300:
        return Outcome.succeeded(
            {}, f"the step's receiver was told of the cancel ({answer.status})"
        )
    outcome = webhook.judge(answer.status, answer.headers, answer.body)
    return outcome
