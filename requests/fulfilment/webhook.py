"""Webhook fulfilment: a signed JSON envelope per the Standard Webhooks scheme."""

from __future__ import annotations

import json
import ssl
from functools import cache

import httpx

from servicebay.catalog.fulfilment import FulfilmentContext
from servicebay.core import clock
from servicebay.core.outbound import OutboundPolicy, OutboundRefused
from servicebay.core.signing import sign
from servicebay.requests.fulfilment.engine import Outcome

RETRYABLE = {408, 429}
USER_AGENT = "servicebay-webhooks/1"


def deliver(context: FulfilmentContext, *, policy: OutboundPolicy) -> Outcome:
    url = str(context.spec["url"])
    timeout = float(context.spec.get("timeout_seconds", 10.0))
    try:
        address = policy.resolve(url)
    except OutboundRefused as refused:
        return Outcome.fatal(f"refused to call {url}: {refused}")
    timestamp = int(clock.now().timestamp())
    message_id = str(context.run_id)  # the same for every attempt: the receiver's dedup key
    body = json.dumps(context.envelope(timestamp=timestamp), separators=(",", ":")).encode()
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
    }
    if context.secret:
        headers["webhook-signature"] = sign(
            secret=context.secret, message_id=message_id, timestamp=timestamp, body=body
        )
    target = httpx.URL(url)
    headers["host"] = target.netloc.decode()
    pinned = target.copy_with(host=str(address))
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, verify=_tls()) as client:
            response = client.post(
                pinned,
                content=body,
                headers=headers,
                extensions={"sni_hostname": target.host},
            )
    except httpx.TimeoutException:
        return Outcome.retry(f"no answer from {url} within {timeout:g} s")
    except httpx.HTTPError as error:
        return Outcome.retry(f"could not reach {url}: {error.__class__.__name__}: {error}")
    return _judge(response)


@cache
def _tls() -> ssl.SSLContext:
    """Loading the CA bundle takes tens of milliseconds: once per process, not per call."""
    return httpx.create_ssl_context()


def _judge(response: httpx.Response) -> Outcome:
    status = response.status_code
    excerpt = response.text[:500]
    if 200 <= status < 300:
        payload = _json_object(response)
        if payload.get("status") == "accepted":
            return Outcome(
                "accepted", f"receiver accepted the work ({status}); waiting for callback"
            )
        outputs = payload.get("outputs", payload)
        if not isinstance(outputs, dict):
            outputs = {"result": outputs}
        return Outcome.succeeded(outputs, f"receiver answered {status}")
    if 300 <= status < 400:
        where = response.headers.get("location", "?")
        return Outcome.fatal(f"receiver answered {status} to {where}; redirects are not followed")
    if status in RETRYABLE or status >= 500:
        return Outcome.retry(f"receiver answered {status}: {excerpt}")
    return Outcome.fatal(f"receiver refused the work with {status}: {excerpt}")


def _json_object(response: httpx.Response) -> dict[str, object]:
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {"result": payload}
