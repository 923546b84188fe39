"""create_app(): routers, middleware, error mapping, static files, in-process worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import HTTPException, RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from servicebay.catalog.demand import DemandNotFound, InvalidDemand
from servicebay.catalog.errors import (
    CatalogPermissionDenied,
    InputsInvalid,
    InvalidOffering,
    OfferingConflict,
    OfferingNotFound,
)
from servicebay.core.database import make_engine, make_sessionmaker
from servicebay.core.identity import IdentityError
from servicebay.core.paths import STATIC_DIR
from servicebay.core.settings import Settings, get_settings
from servicebay.portal import api, pages
from servicebay.portal.deps import LoginRequired
from servicebay.portal.render import render
from servicebay.portal.security import CsrfRejected, security_middleware
from servicebay.requests.errors import (
    OfferingNotRequestable,
    RequestNotFound,
    RunConflict,
    RunNotFound,
    TransitionNotAllowed,
)
from servicebay.requests.fulfilment.worker import BackgroundWorker, Worker

STATUS_OF_ERROR: dict[type[Exception], int] = {
    OfferingNotFound: 404,
    DemandNotFound: 404,
    RequestNotFound: 404,
    RunNotFound: 404,
    CatalogPermissionDenied: 403,
    CsrfRejected: 403,
    OfferingConflict: 409,
    OfferingNotRequestable: 409,
    TransitionNotAllowed: 409,
    RunConflict: 409,
    InputsInvalid: 422,
    InvalidOffering: 422,
    InvalidDemand: 422,
    IdentityError: 422,
}


def create_app(settings: Settings | None = None, *, run_worker: bool = False) -> FastAPI:
    settings = settings or get_settings()
    engine = make_engine(settings.effective_database_url)
    sessions = make_sessionmaker(engine)

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
    app.middleware("http")(security_middleware)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(api.router)
    app.include_router(pages.router)
    _map_errors(app)
    return app


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _detail(error: Exception) -> Any:
    problems = getattr(error, "problems", None)
    if problems:
        return [{"field": name, "message": message} for name, message in problems.items()]
    return str(error)


def _map_errors(app: FastAPI) -> None:
    async def domain_error(request: Request, error: Exception) -> Response:
        status = next(code for kind, code in STATUS_OF_ERROR.items() if isinstance(error, kind))
        if _wants_json(request):
            return JSONResponse({"detail": _detail(error)}, status_code=status)
        return render(
            request, "error.html", {"status": status, "message": str(error)}, status_code=status
        )

    for kind in STATUS_OF_ERROR:
        app.add_exception_handler(kind, domain_error)

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        if _wants_json(request):
            return JSONResponse(
                {"detail": error.detail}, status_code=error.status_code, headers=error.headers
            )
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
