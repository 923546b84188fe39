"""/docs: Swagger UI from the portal's own static folder, under the portal's CSP."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from servicebay.core.paths import STATIC_DIR


def test_api_docs_page_loads_swagger_ui_from_the_portal_with_no_inline_script(
    client: TestClient,
) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "unsafe-inline" not in policy
    sources = re.findall(r'<script src="([^"]+)"', page.text)
    assert [s.removeprefix("http://testserver") for s in sources] == [
        "/static/vendor/swagger-ui/swagger-ui-bundle.js",
        "/static/js/api-docs.js",
    ]
    assert "<script>" not in page.text
    assert 'data-openapi-url="/openapi.json"' in page.text
    for path in sources:
        assert client.get(path).status_code == 200


def test_swagger_ui_files_are_in_the_static_folder() -> None:
    assert (STATIC_DIR / "vendor" / "swagger-ui" / "swagger-ui-bundle.js").is_file()
    assert (STATIC_DIR / "vendor" / "swagger-ui" / "swagger-ui.css").is_file()


def test_redoc_is_gone(client: TestClient) -> None:
    assert client.get("/redoc").status_code == 404


def test_openapi_document_offers_the_api_token_as_bearer_auth(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    scheme = document["components"]["securitySchemes"]["apiToken"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    assert {"apiToken": []} in document["security"]
    assert "/docs" not in document["paths"]


def test_declaring_the_bearer_scheme_keeps_anonymous_calls_refused(client: TestClient) -> None:
    answer = client.get("/api/v1/me")
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
