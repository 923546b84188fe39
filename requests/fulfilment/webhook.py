"""Webhook fulfilment: a signed JSON envelope per the Standard Webhooks scheme."""

from __future__ import annotations

import json
import ssl
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx

from servicebay.catalog.fulfilment import FulfilmentContext
from servicebay.core import clock
from servicebay.core.outbound import OutboundPolicy, OutboundRefused
from servicebay.core.signing import sign
from servicebay.requests.fulfilment.engine import Outcome

RETRYABLE = {408, 429}
USER_AGENT = "servicebay-webhooks/1"
# Where a kept-alive connection goes: scheme, pinned address, port, and the host name it
# was opened for (its Host header, SNI and certificate check).
Origin = tuple[str, str, int | None, str]
# An idle connection is dropped sooner than receivers usually drop theirs (2 s for gunicorn,
# 5 s for uvicorn and Node), so a delivery is seldom sent on one its server is closing.
KEEP_ALIVE = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=1.5)


class Connections:
    """A worker's keep-alive HTTP clients, one per origin; safe to share between threads.

    httpx pools connections by the URL, and a delivery's URL names the pinned address. Two
    host names at one address would then share connections, and a connection whose TLS
    certificate was checked for one name could carry a request meant for the other. So each
    host name at each address gets its own client. Beyond ``limit`` clients the least
    recently used ones that no delivery is using are closed.
    """

    def __init__(self, limit: int = 32) -> None:
        self._limit = limit
        self._clients: OrderedDict[Origin, httpx.Client] = OrderedDict()
        self._users: Counter[Origin] = Counter()
        self._lock = threading.Lock()

    @contextmanager
    def client(self, origin: Origin) -> Iterator[httpx.Client]:
        """The origin's client, kept open (and not closed by others) while in use."""
        with self._lock:
            client = self._clients.pop(origin, None) or _new_client()
            self._clients[origin] = client  # the most recently used go last
            self._users[origin] += 1
            unused = self._evict()
        for old in unused:
            old.close()
        try:
            yield client
        finally:
            with self._lock:
                self._users[origin] -= 1
                if self._users[origin] == 0:
                    del self._users[origin]

    def close(self) -> None:
        with self._lock:
            clients = list(self._clients.values())
            self._clients.clear()
        for client in clients:
            client.close()

    def _evict(self) -> list[httpx.Client]:
        surplus = len(self._clients) - self._limit
        if surplus <= 0:
            return []
        idle = [origin for origin in self._clients if origin not in self._users][:surplus]
        return [self._clients.pop(origin) for origin in idle]


def _new_client() -> httpx.Client:
    # Each delivery stands alone: cookies a receiver sets are never sent back.
    no_cookies = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
    return httpx.Client(
        follow_redirects=False, verify=_tls(), cookies=no_cookies, limits=KEEP_ALIVE
    )


def deliver(
    context: FulfilmentContext, *, policy: OutboundPolicy, connections: Connections
) -> Outcome:
    """Post the envelope to the address the URL's host resolves to now, checked by ``policy``."""
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
    origin = (pinned.scheme, pinned.host, pinned.port, target.host)
    try:
        with connections.client(origin) as client:
            response = client.post(
                pinned,
                content=body,
                headers=headers,
                timeout=timeout,
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
