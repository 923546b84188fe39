"""create_app(): routers, middleware, error mapping, static files, in-process worker."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import HTTPException, RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry
from sqlalchemy import inspect
from sqlalchemy.exc import DataError

from servicebay.catalog.as_code import CatalogFilesInvalid
from servicebay.catalog.demand import DemandNotFound, InvalidDemand
from servicebay.catalog.errors import (
    CatalogPermissionDenied,
    InputsInvalid,
    InvalidOffering,
    NotReady,
    OfferingConflict,
    OfferingNotFound,
)
from servicebay.core.database import make_engine, make_sessionmaker
from servicebay.core.identity import IdentityError, User
from servicebay.core.paths import STATIC_DIR
from servicebay.core.ratelimit import RateLimited
from servicebay.core.settings import Settings, get_settings
from servicebay.portal import api, observability, pages
from servicebay.portal.body_limit import BodySizeLimit
from servicebay.portal.deps import LoginRequired
from servicebay.portal.observability import DatabaseCollector
from servicebay.portal.proxy_auth import TrustedProxyHeaders
from servicebay.portal.render import render
from servicebay.portal.security import CsrfRejected, security_middleware
from servicebay.requests import notifications
from servicebay.requests.errors import (
    CallbackRefused,
    DecisionInvalid,
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    NotPermitted,
    OfferingNotRequestable,
    QuotaExceeded,
    RequestNotFound,
    RunConflict,
    RunNotFound,
    TransitionNotAllowed,
    WipLimitReached,
)
from servicebay.requests.fulfilment import mail
from servicebay.requests.fulfilment.engine import Timing
from servicebay.requests.fulfilment.worker import BackgroundWorker, Worker

logger = logging.getLogger("servicebay.portal")

STATUS_OF_ERROR: dict[type[Exception], int] = {
    OfferingNotFound: 404,
    DemandNotFound: 404,
    RequestNotFound: 404,
    RunNotFound: 404,
    CallbackRefused: 401,
    CatalogPermissionDenied: 403,
    NotPermitted: 403,
    QuotaExceeded: 409,
    IdempotencyKeyInFlight: 409,
    WipLimitReached: 409,
    IdempotencyKeyReused: 422,
    DecisionInvalid: 422,
    CsrfRejected: 403,
    OfferingConflict: 409,
    NotReady: 409,
    OfferingNotRequestable: 409,
    TransitionNotAllowed: 409,
    RunConflict: 409,
    InputsInvalid: 422,
    InvalidOffering: 422,
    CatalogFilesInvalid: 422,
    InvalidDemand: 422,
    IdentityError: 422,
    RateLimited: 429,
}


def create_app(settings: Settings | None = None, *, run_worker: bool = False) -> FastAPI:
    settings = settings or get_settings()
    settings.configure_secrets()
    engine = make_engine(settings.effective_database_url)
    sessions = make_sessionmaker(engine)
    notifications.configure(sessions, email=mail.configured(settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        background = None
        if run_worker:
            background = BackgroundWorker(Worker(sessions, settings))
            app.state.worker = background.worker
            background.start()
        yield
        if background is not None:
            background.stop()
        engine.dispose()

    app = FastAPI(
        title="servicebay",
        version="0.1.0",
        description="Service catalog and self-service portal",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = sessions
    app.state.worker = None
    app.state.metrics_registry = CollectorRegistry()
    app.state.metrics_registry.register(DatabaseCollector(sessions, in_process_worker=run_worker))
    app.state.timing = Timing(
        backoff_base=timedelta(seconds=settings.retry_base_seconds),
        callback_timeout=timedelta(seconds=settings.callback_timeout_seconds),
    )
    # Innermost first: the body limit sits next to the routes, so the error mapping
    # answers its 413; the proxy headers outermost, so everything sees the real caller.
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.middleware("http")(security_middleware)
    app.middleware("http")(observability.request_id_and_metrics)
    app.add_middleware(TrustedProxyHeaders, trusted=settings.trusted_proxies)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(observability.router)
    app.include_router(api.router)
    app.include_router(pages.router)
    _map_errors(app)
    _describe_errors(app)
    return app


def _describe_errors(app: FastAPI) -> None:
    """Document the 422 body the API really sends: ``{"detail": [{"field", "message"}]}``,
    or a sentence in ``detail`` when the problem is not one field's."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        schemas = schema.get("components", {}).get("schemas", {})
        if "ValidationError" in schemas:
            schemas["ValidationError"] = {
                "title": "ValidationError",
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                "required": ["field", "message"],
            }
            schemas["HTTPValidationError"] = {
                "title": "HTTPValidationError",
                "type": "object",
                "properties": {
                    "detail": {
                        "anyOf": [
                            {"type": "string"},
                            {
                                "type": "array",
                                "items": {"$ref": "#/components/schemas/ValidationError"},
                            },
                        ]
                    }
                },
                "required": ["detail"],
            }
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _detail(error: Exception) -> Any:
    problems = getattr(error, "problems", None)
    if problems:
        return [{"field": name, "message": message} for name, message in problems.items()]
    return str(error)


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


def _map_errors(app: FastAPI) -> None:
    async def domain_error(request: Request, error: Exception) -> Response:
        status = next(code for kind, code in STATUS_OF_ERROR.items() if isinstance(error, kind))
        headers = {}
        if isinstance(error, RateLimited):
            headers["Retry-After"] = str(error.retry_after)
        if _wants_json(request):
            return JSONResponse({"detail": _detail(error)}, status_code=status, headers=headers)
        _reload_user(request)
        return render(
            request,
            "error.html",
            {"status": status, "message": str(error)},
            status_code=status,
            headers=headers,
        )

    for kind in STATUS_OF_ERROR:
        app.add_exception_handler(kind, domain_error)

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        if _wants_json(request):
            return JSONResponse(
                {"detail": error.detail}, status_code=error.status_code, headers=error.headers
            )
        _reload_user(request)
        return render(
            request,
            "error.html",
            {"status": error.status_code, "message": error.detail},
            status_code=error.status_code,
        )

    app.add_exception_handler(HTTPException, http_error)

    async def login_required(request: Request, error: Exception) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    app.add_exception_handler(LoginRequired, login_required)

    async def invalid_request(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        detail = [
            {
                "field": ".".join(str(part) for part in item["loc"][1:]) or "body",
                "message": item["msg"],
            }
            for item in error.errors()
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    app.add_exception_handler(RequestValidationError, invalid_request)

    async def out_of_range(request: Request, error: Exception) -> Response:
        # A number no column can hold (an id beyond any stored one): the caller's mistake.
        message = "a number in the request is out of range"
        if _wants_json(request):
            return JSONResponse({"detail": message}, status_code=422)
        _reload_user(request)
        return render(request, "error.html", {"status": 422, "message": message}, status_code=422)

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
