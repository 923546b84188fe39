"""create_app(): routers, middleware, error mapping, static files, in-process worker."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_flat_dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry
from sqlalchemy import inspect
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

from servicebay.analytics import digest, rollup
from servicebay.core import validation
from servicebay.core.database import make_engine, make_sessionmaker
from servicebay.core.errors import RateLimited, ServicebayError, Unauthorized, detail_of
from servicebay.core.identity import User
from servicebay.core.oidc import RelyingParty
from servicebay.core.paths import STATIC_DIR
from servicebay.core.settings import Settings, get_settings
from servicebay.portal import api, observability, pages
from servicebay.portal import mcp as agents
from servicebay.portal.body_limit import BodySizeLimit
from servicebay.portal.deps import LoginRequired, api_user
from servicebay.portal.form_tokens import AlreadyDone
from servicebay.portal.observability import DatabaseCollector
from servicebay.portal.pages import api_docs
from servicebay.portal.proxy_auth import TrustedProxyHeaders
from servicebay.portal.render import render, see_other
from servicebay.portal.security import SecurityHeaders
from servicebay.requests import expiry, notifications
from servicebay.requests.fulfilment import mail
from servicebay.requests.fulfilment.engine import Timing
from servicebay.requests.fulfilment.worker import BackgroundWorker, Worker

logger = logging.getLogger("servicebay.portal")


def create_app(settings: Settings | None = None, *, run_worker: bool = False) -> FastAPI:
    settings = settings or get_settings()
    settings.configure_secrets()
    # On PostgreSQL, enough kept connections for the requests one process answers at
    # once: a connection opened for one request and closed after it costs more than it.
    pool: dict[str, Any] = {}
    if not settings.is_sqlite:
        pool = {
            "pool_size": settings.database_pool_size,
            "max_overflow": settings.database_pool_size,
        }
    engine = make_engine(settings.effective_database_url, **pool)
    sessions = make_sessionmaker(engine)
    # Insights only read: from a replica when one is configured, else in the request's
    # own session (see deps.get_analytics_db).
    analytics_engine = (
        make_engine(settings.analytics_database_url, read_only=True)
        if settings.analytics_database_url
        else None
    )
    notifications.configure(sessions, email=mail.configured(settings), base_url=settings.base_url)
    agent_tools = agents.build(sessions, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        background = None
        if run_worker:
            # Woken by commits; its sweep also brings the analytics roll-up up to date and
            # sends the teams' retrospective digests that are due.
            background = BackgroundWorker(
                Worker(
                    sessions, settings, chores=(rollup.refresh, digest.send_due, expiry.send_due)
                )
            )
            background.start()
        # The agent tools' session manager runs inside the app's lifespan.
        async with agents.running(agent_tools) as app.state.mcp_http:
            yield
        app.state.mcp_http = None
        if background is not None:
            background.stop()
        engine.dispose()
        if analytics_engine is not None:
            analytics_engine.dispose()

    app = FastAPI(
        title="servicebay",
        version="0.1.0",
        description="Service catalog and self-service portal",
        lifespan=lifespan,
        docs_url=None,  # served by pages.api_docs, under the portal's CSP
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.oidc = RelyingParty.from_settings(settings)
    app.state.engine = engine
    app.state.sessions = sessions
    app.state.analytics_sessions = (
        make_sessionmaker(analytics_engine) if analytics_engine is not None else None
    )
    app.state.metrics_registry = CollectorRegistry()
    app.state.metrics_registry.register(DatabaseCollector(sessions, in_process_worker=run_worker))
    app.state.timing = Timing(
        backoff_base=timedelta(seconds=settings.retry_base_seconds),
        callback_timeout=timedelta(seconds=settings.callback_timeout_seconds),
    )
    # Innermost first: the body limit sits next to the routes, so the error mapping
    # answers its 413; the proxy headers outermost, so everything sees the real caller.
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders, settings=settings)
    app.add_middleware(observability.RequestIdAndMetrics)
    app.add_middleware(TrustedProxyHeaders, trusted=settings.trusted_proxies)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(observability.router)
    app.include_router(api.router)
    app.include_router(pages.router)
    app.router.routes.append(Route(agents.PATH, endpoint=agents.Endpoint(), name="mcp"))
    _map_errors(app)
    _describe_errors(app)
    api_docs.install(app)
    return app


ERROR_SCHEMAS: dict[str, Any] = {
    "Error": {
        "title": "Error",
        "type": "object",
        "properties": {"detail": {"type": "string"}},
        "required": ["detail"],
    },
    "ValidationError": {
        "title": "ValidationError",
        "type": "object",
        "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
        "required": ["field", "message"],
    },
    "HTTPValidationError": {
        "title": "HTTPValidationError",
        "type": "object",
        "properties": {
            "detail": {
                "anyOf": [
                    {"type": "string"},
                    {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}},
                ]
            }
        },
        "required": ["detail"],
    },
}
ERROR_ANSWERS: dict[int, str] = {
    400: "The request cannot be read: a body that is not JSON, or a malformed header",
    401: "No credential, or it is not valid (expired, revoked, not this run's token)",
    403: "The caller may not do this: their role, the token's scopes or the CSRF token",
    404: "Something the request names does not exist, or is not visible to the caller",
    409: "The thing is in a state that does not allow this now",
    413: "The body is larger than the portal accepts (SERVICEBAY_MAX_BODY_BYTES)",
    422: "The input is not valid: ``detail`` lists each field's problem, or says why",
    429: "Too many attempts; ``Retry-After`` says in how many seconds to try again",
}
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _describe_errors(app: FastAPI) -> None:
    """Document every error an API operation can answer and the body it comes with.

    One rule for every operation, read from the route: a body or a header can be unreadable
    (400); every API call needs a credential (401); a person's call can be refused (403);
    input can name what does not exist (404) or be invalid (422); a body can be too large
    (413); a change can meet a state that forbids it (409); a rate-limited call can be
    refused for a while (429). An operation with ``?format=csv`` answers CSV as well.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        schema.setdefault("components", {}).setdefault("schemas", {}).update(ERROR_SCHEMAS)
        for route in app.routes:
            if not isinstance(route, APIRoute) or not route.path.startswith("/api/"):
                continue
            for method in route.methods:
                operation = schema["paths"].get(route.path_format, {}).get(method.lower())
                if operation is not None:
                    _describe_operation(operation, route, method)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _describe_operation(operation: dict[str, Any], route: APIRoute, method: str) -> None:
    responses = operation.setdefault("responses", {})
    for status in _error_statuses(route, method):
        body = "HTTPValidationError" if status == 422 else "Error"
        answer: dict[str, Any] = {
            "description": ERROR_ANSWERS[status],
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}},
        }
        if status == 401:
            answer["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
        if status == 429:
            answer["headers"] = {
                "Retry-After": {"required": True, "schema": {"type": "integer", "minimum": 1}}
            }
        responses[str(status)] = answer
    if any(_offers_csv(parameter) for parameter in operation.get("parameters", [])):
        for code, answer in responses.items():
            if code.startswith("2"):
                answer.setdefault("content", {})["text/csv"] = {"schema": {"type": "string"}}


def _error_statuses(route: APIRoute, method: str) -> list[int]:
    flat = get_flat_dependant(route.dependant)
    takes_input = bool(
        flat.path_params or flat.query_params or flat.header_params or flat.body_params
    )
    statuses = [401]
    if flat.body_params or flat.header_params:
        statuses.append(400)
    if _depends_on(route.dependant, api_user):
        statuses.append(403)
    if takes_input:
        statuses += [404, 422]
    if flat.body_params:
        statuses.append(413)
    if method in UNSAFE_METHODS:
        statuses.append(409)
    # A route that counts attempts calls the rate limiter itself, in its own body.
    if "limit_rate" in route.endpoint.__code__.co_names:
        statuses.append(429)
    return sorted(statuses)


def _depends_on(dependant: Dependant, call: Any) -> bool:
    return any(sub.call is call or _depends_on(sub, call) for sub in dependant.dependencies)


def _offers_csv(parameter: dict[str, Any]) -> bool:
    return parameter.get("name") == "format" and "csv" in str(parameter.get("schema", {}))


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


LARGEST_ID = 2**31 - 1
"""Ids are 32-bit integers on PostgreSQL; SQLite's are wider."""


def _beyond_any_id(value: object) -> bool:
    digits = str(value).removeprefix("-")
    return digits.isascii() and digits.isdigit() and (len(digits) > 10 or int(digits) > LARGEST_ID)


def _reload_user(request: Request) -> None:
    """The request's transaction was rolled back, which expired the signed-in user;
    load it again so the error page can show who is signed in."""
    user = getattr(request.state, "user", None)
    if user is None:
        return
    identity = inspect(user).identity
    if not identity:
        return
    with request.app.state.sessions() as session:
        request.state.user = session.get(User, identity[0])


def _allowed_methods(request: Request) -> str:
    """The methods of the resource at this path. The router's 405 names only the first
    route's methods, though GET and POST of one path are often two routes."""
    routes = [route for route in request.app.router.routes if isinstance(route, Route)]
    first = next(
        (route for route in routes if route.matches(request.scope)[0] is not Match.NONE), None
    )
    if first is None:
        return ""
    return ", ".join(
        sorted(
            method for route in routes if route.path == first.path for method in route.methods or ()
        )
    )


def _headers_of(error: ServicebayError) -> dict[str, str]:
    if isinstance(error, RateLimited):
        return {"Retry-After": str(error.retry_after)}
    if isinstance(error, Unauthorized):
        return {"WWW-Authenticate": "Bearer"}
    return {}


def _error_page(
    request: Request, status: int, message: Any, headers: dict[str, str] | None = None
) -> Response:
    _reload_user(request)
    return render(
        request,
        "error.html",
        {"status": status, "message": message},
        status_code=status,
        headers=headers,
    )


def _map_errors(app: FastAPI) -> None:
    async def domain_error(request: Request, error: Exception) -> Response:
        """Every context error is one kind; the kind decides the status code."""
        assert isinstance(error, ServicebayError)
        status, headers = error.status_code, _headers_of(error)
        if _wants_json(request):
            return JSONResponse({"detail": detail_of(error)}, status_code=status, headers=headers)
        return _error_page(request, status, str(error), headers)

    app.add_exception_handler(ServicebayError, domain_error)

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        headers = dict(error.headers or {})
        if error.status_code == 405:
            headers["Allow"] = _allowed_methods(request)
        if _wants_json(request):
            return JSONResponse(
                {"detail": error.detail}, status_code=error.status_code, headers=headers
            )
        return _error_page(request, error.status_code, error.detail, headers)

    app.add_exception_handler(StarletteHTTPException, http_error)

    async def login_required(request: Request, error: Exception) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    app.add_exception_handler(LoginRequired, login_required)

    async def already_done(request: Request, error: Exception) -> Response:
        """A form sent again lands where its first post landed, with the same message."""
        assert isinstance(error, AlreadyDone)
        outcome = error.outcome
        return see_other(
            request,
            str(outcome.get("location") or "/"),
            notice=str(outcome.get("notice") or ""),
            kind=str(outcome.get("kind") or "success"),
        )

    app.add_exception_handler(AlreadyDone, already_done)

    async def invalid_request(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        # FastAPI's first location part says where the value was (body, query, path).
        worded = validation.problems_in_words(error.errors(), skip=1)
        problems = [
            {"field": "body" if field == "definition" else field, "message": message}
            for field, message in worded.items()
        ]
        if _wants_json(request):
            return JSONResponse({"detail": problems}, status_code=422)
        return _error_page(request, 422, " ".join(worded.values()))

    app.add_exception_handler(RequestValidationError, invalid_request)

    async def out_of_range(request: Request, error: Exception) -> Response:
        # A number no column can hold. As an id in the path it names nothing, so it is not
        # found, as it is on a database whose ids are wider; elsewhere it is a mistake.
        status, message = 422, "a number in the request is out of range"
        if any(_beyond_any_id(value) for value in request.path_params.values()):
            status, message = 404, "there is nothing with that number"
        if _wants_json(request):
            return JSONResponse({"detail": message}, status_code=status)
        return _error_page(request, status, message)

    app.add_exception_handler(OverflowError, out_of_range)
    app.add_exception_handler(DataError, out_of_range)

    async def unexpected(request: Request, error: Exception) -> Response:
        logger.exception(
            "unexpected error on %s %s", request.method, request.url.path, exc_info=error
        )
        if _wants_json(request):
            return JSONResponse({"detail": "internal error; it has been logged"}, status_code=500)
        message = "An unexpected error happened. It has been logged; please try again."
        return render(request, "error.html", {"status": 500, "message": message}, status_code=500)

    app.add_exception_handler(Exception, unexpected)
