"""/docs: the API reference, served from the portal's own static folder.

FastAPI's own docs page loads Swagger UI from a CDN and starts it with an inline script;
the portal's Content-Security-Policy refuses both. This page uses the copy of Swagger UI
that ``scripts/setup`` puts in ``static/vendor/swagger-ui`` and an init script of ours,
so the policy stays as strict as on every other page.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response

from servicebay.portal.deps import page_caller
from servicebay.portal.render import render

BEARER_SCHEME = "apiToken"

# A page like the others: it knows people by their sign-in and refuses bearer tokens.
router = APIRouter(include_in_schema=False, dependencies=[Depends(page_caller)])


@router.get("/docs", name="api_docs")
def api_docs(request: Request) -> Response:
    openapi_url = request.app.openapi_url or "/openapi.json"
    return render(request, "api_docs.html", {"openapi_url": openapi_url})


def install(app: FastAPI) -> None:
    """Serve /docs and describe the API token in the OpenAPI document, so the page's
    "Authorize" takes one. Authentication itself is unchanged: an operation that needs a
    user still answers 401 without one."""
    app.include_router(router)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes[BEARER_SCHEME] = {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal API token (`sb_…`), from the Account page or "
            "`servicebay tokens create`.",
        }
        # Signed-in browser sessions and anonymous calls work too, where the operation
        # allows them: the token is one way in, not the only one.
        schema.setdefault("security", [{BEARER_SCHEME: []}, {}])
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
