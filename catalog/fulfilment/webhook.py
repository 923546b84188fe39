"""Webhook fulfilment: a signed JSON envelope per the Standard Webhooks scheme, one call
bounded in time (connect to last byte) and in the size of the answer it reads."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpcore
import httpx

from servicebay.catalog.fulfilment.context import FulfilmentContext
from servicebay.catalog.fulfilment.outcome import Outcome
from servicebay.catalog.schemas import WebhookFulfilment
from servicebay.core import clock
from servicebay.core.outbound import IPAddress, OutboundPolicy, OutboundRefused
from servicebay.core.signing import sign

RETRYABLE = {408, 429}
USER_AGENT = "servicebay-webhooks/1"
EXCERPT_CHARACTERS = 500
# Where a kept-alive connection goes: scheme, pinned address, port, and the host name it
# was opened for (its Host header, SNI and certificate check).
Origin = tuple[str, str, int | None, str]
# An idle connection is dropped sooner than receivers usually drop theirs (2 s for gunicorn,
# 5 s for uvicorn and Node), so a delivery is seldom sent on one its server is closing.
KEEP_ALIVE = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=1.5)


class TooLarge(Exception):
    """The receiver's answer is longer than the limit."""


def deliver(
    context: FulfilmentContext,
    spec: WebhookFulfilment,
    *,
    policy: OutboundPolicy,
    connections: Connections,
) -> Outcome:
    """Post the envelope to the address the URL's host resolves to now, checked by ``policy``.

    ``spec.timeout_seconds`` bounds the whole call, from connecting to the answer's last
    byte; an answer longer than ``policy.max_response_bytes`` is not read on.
    """
    url = spec.url
    timeout = spec.timeout_seconds
    try:
        address = policy.resolve(url)
    except OutboundRefused as refused:
        return Outcome.fatal(f"refused to call {url}: {refused}")
    timestamp = int(clock.now().timestamp())
    message_id = context.webhook_id
    body = json.dumps(context.envelope(timestamp=timestamp), separators=(",", ":")).encode()
    headers = {
        "content-type": "application/json",
        "accept-encoding": "identity",  # the size limit counts what is sent, not a bomb's yield
        "user-agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
    }
    if context.secret:
        headers["webhook-signature"] = sign(
            secret=context.secret, message_id=message_id, timestamp=timestamp, body=body
        )
    answer = post(
        url,
        body=body,
        headers=headers,
        timeout=timeout,
        policy=policy,
        connections=connections,
        address=address,
    )
    if isinstance(answer, Outcome):
        return answer
    return judge(answer.status, answer.headers, answer.body)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: httpx.Headers
    body: bytes


def post(
    url: str,
    *,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
    policy: OutboundPolicy,
    connections: Connections,
    address: IPAddress | None = None,
    shown: str | None = None,
    method: str = "POST",
) -> Answer | Outcome:
    """POST ``body`` (or send ``method``) to the address the URL's host resolves to now (or
    ``address``, already checked by ``policy``), within ``timeout`` from connecting to the
    answer's last byte.

    The receiver's answer, or the Outcome of a call that got none (refused, timed out, too
    large, unreachable). Messages name the URL as ``shown`` (the URL itself by default):
    where the URL is a secret, its host only.
    """
    shown = shown or url
    if address is None:
        try:
            address = policy.resolve(url)
        except OutboundRefused as refused:
            return Outcome.fatal(f"refused to call {shown}: {refused}")
    target = httpx.URL(url)
    headers = {**headers, "host": target.netloc.decode()}
    pinned = target.copy_with(host=str(address))
    origin = (pinned.scheme, pinned.host, pinned.port, target.host)
    limit = policy.max_response_bytes
    try:
        with (
            within(timeout),
            connections.client(origin) as client,
            client.stream(
                method,
                pinned,
                content=body,
                headers=headers,
                timeout=timeout,
                extensions={"sni_hostname": target.host},
            ) as response,
        ):
            answer = _read(response, limit)
    except httpx.TimeoutException:
        return Outcome.retry(f"no complete answer from {shown} within {timeout:g} s")
    except TooLarge:
        return Outcome.retry(
            f"the answer from {shown} is larger than {limit} bytes "
            "(SERVICEBAY_FULFILMENT_MAX_RESPONSE_BYTES); it was not read"
        )
    except httpx.HTTPError as error:
        detail = f": {error}" if shown == url else ""  # httpx's message may name the URL
        return Outcome.retry(f"could not reach {shown}: {error.__class__.__name__}{detail}")
    return Answer(response.status_code, response.headers, answer)


def judge(status: int, headers: httpx.Headers, body: bytes) -> Outcome:
    """What an answer means; see docs/webhooks.md ("What your answer means")."""
    excerpt = body[:EXCERPT_CHARACTERS].decode("utf-8", "replace")
    if 200 <= status < 300:
        try:
            payload = json.loads(body)
        except ValueError:
            return Outcome.succeeded(
                {}, f"receiver answered {status} with a body that is not JSON; no outputs stored"
            )
        if not isinstance(payload, dict):
            return Outcome.succeeded({"result": payload}, f"receiver answered {status}")
        if payload.get("status") == "accepted":
            return Outcome.accepted(f"receiver accepted the work ({status}); waiting for callback")
        outputs = payload.get("outputs", payload)
        if not isinstance(outputs, dict):
            outputs = {"result": outputs}
        return Outcome.succeeded(outputs, f"receiver answered {status}")
    if 300 <= status < 400:
        where = headers.get("location", "?")
        return Outcome.fatal(f"receiver answered {status} to {where}; redirects are not followed")
    if status in RETRYABLE or status >= 500:
        return Outcome.retry(f"receiver answered {status}: {excerpt}")
    return Outcome.fatal(f"receiver refused the work with {status}: {excerpt}")


def _read(response: httpx.Response, limit: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


# --- the deadline of one call ---------------------------------------------------------
#
# httpx's timeouts bound each socket operation, so a receiver that sends a byte now and
# then (in its headers or its body) could hold a call for ever. Every socket operation
# of a delivery is given at most the time left until the call's deadline instead.

_deadline: ContextVar[float | None] = ContextVar("webhook_deadline", default=None)


@contextmanager
def within(seconds: float) -> Iterator[None]:
    """Every socket operation inside the block ends by ``seconds`` from now."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def _left(timeout: float | None, late: type[Exception]) -> float | None:
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise late("the call's deadline has passed")
    return remaining if timeout is None else min(timeout, remaining)


class _BoundedStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        left = _left(timeout, httpcore.ConnectTimeout)
        return _BoundedStream(self._stream.start_tls(ssl_context, server_hostname, left))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _BoundedBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        left = _left(timeout, httpcore.ConnectTimeout)
        stream = self._backend.connect_tcp(host, port, left, local_address, socket_options)
        return _BoundedStream(stream)

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class _BoundedTransport(httpx.HTTPTransport):
    """httpx's transport on a connection pool whose sockets keep the call's deadline."""

    def __init__(self) -> None:
        super().__init__(verify=_tls(), limits=KEEP_ALIVE)
        self._pool = httpcore.ConnectionPool(
            ssl_context=_tls(),
            max_connections=KEEP_ALIVE.max_connections,
            max_keepalive_connections=KEEP_ALIVE.max_keepalive_connections,
            keepalive_expiry=KEEP_ALIVE.keepalive_expiry,
            network_backend=_BoundedBackend(),
        )


# --- kept-alive connections -------------------------------------------------------------


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

    def __enter__(self) -> Connections:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
    return httpx.Client(transport=_BoundedTransport(), follow_redirects=False, cookies=no_cookies)


@cache
def _tls() -> ssl.SSLContext:
    """Loading the CA bundle takes tens of milliseconds: once per process, not per call."""
    return httpx.create_ssl_context()
