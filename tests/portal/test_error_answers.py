"""The app answers every error by its kind: JSON under /api, the HTML error page elsewhere."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from servicebay.core import identity
from servicebay.core.errors import Conflict, Invalid, NotFound, RateLimited, Unauthorized
from servicebay.portal.security import SESSION_COOKIE
from tests.factories import make_user, token_for


class ParcelMissing(NotFound):
    """A kind's subclass the app has never heard of."""


def _raising(app: FastAPI, path: str, error: Exception) -> None:
    def route() -> None:
        raise error

    app.add_api_route(path, route, methods=["GET"])


def _signed_in(client: TestClient, db: Session) -> None:
    key = identity.start_session(db, user=make_user(db))
    db.commit()
    client.cookies.set(SESSION_COOKIE, key)


def test_a_page_whose_query_fails_validation_answers_the_html_error_page(
    client: TestClient, db: Session
) -> None:
    _signed_in(client, db)
    answer = client.get("/requests?page=abc")
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("text/html")
    assert "Something in what you sent needs a fix" in answer.text
    assert "Page must be a whole number." in answer.text


def test_api_query_that_fails_validation_answers_json_problems(
    client: TestClient, db: Session
) -> None:
    _signed_in(client, db)
    answer = client.get("/api/v1/requests/abc")
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["field"] == "request_id"


def test_an_unregistered_error_of_a_kind_answers_the_kinds_status(
    app: FastAPI, client: TestClient
) -> None:
    _raising(app, "/api/v1/parcel", ParcelMissing("no parcel 7"))
    _raising(app, "/parcel", ParcelMissing("no parcel 7"))
    api = client.get("/api/v1/parcel")
    assert (api.status_code, api.json()) == (404, {"detail": "no parcel 7"})
    page = client.get("/parcel")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "No parcel 7." in page.text


def test_problems_answer_as_a_list_of_fields_and_messages(app: FastAPI, client: TestClient) -> None:
    _raising(app, "/api/v1/form", Invalid(problems={"name": "is required", "size": "too big"}))
    answer = client.get("/api/v1/form")
    assert answer.status_code == 422
    assert answer.json() == {
        "detail": [
            {"field": "name", "message": "is required"},
            {"field": "size", "message": "too big"},
        ]
    }


def test_kinds_carry_their_headers_on_the_api_and_on_pages(
    app: FastAPI, client: TestClient
) -> None:
    _raising(app, "/api/v1/slow-down", RateLimited("searches", 17))
    _raising(app, "/slow-down", RateLimited("searches", 17))
    _raising(app, "/api/v1/who", Unauthorized("the callback token is not valid"))
    _raising(app, "/api/v1/busy", Conflict("the run has ended"))
    for path in ("/api/v1/slow-down", "/slow-down"):
        limited = client.get(path)
        assert (limited.status_code, limited.headers["retry-after"]) == (429, "17")
    who = client.get("/api/v1/who")
    assert (who.status_code, who.headers["www-authenticate"]) == (401, "Bearer")
    busy = client.get("/api/v1/busy")
    assert (busy.status_code, busy.json()) == (409, {"detail": "the run has ended"})


def test_an_unknown_page_answers_the_html_error_page(client: TestClient) -> None:
    answer = client.get("/no-such-page")
    assert answer.status_code == 404
    assert "We could not find that page" in answer.text
    assert client.get("/api/v1/no-such-thing").json() == {"detail": "Not Found"}


def test_a_method_the_resource_lacks_answers_405_naming_all_its_methods(
    client: TestClient,
) -> None:
    # GET and POST /api/v1/requests are two routes; the router alone named only POST.
    for method in ("OPTIONS", "DELETE", "PATCH"):
        answer = client.request(method, "/api/v1/requests")
        assert (answer.status_code, answer.headers["allow"]) == (405, "GET, POST")
    # The drill-down path also matches /analytics/{name}, a different resource.
    started = client.request("OPTIONS", "/api/v1/analytics/form-started")
    assert (started.status_code, started.headers["allow"]) == (405, "POST")
    page = client.request("PUT", "/requests")
    assert (page.status_code, page.headers["allow"]) == (405, "GET")
    assert "We cannot answer that request" in page.text


def test_a_number_is_not_a_date(client: TestClient, db: Session) -> None:
    headers = token_for(db, make_user(db, admin=True), ["read", "admin"])
    db.commit()
    for query in ("until=0", "since=1700000000", "until=2026-01-31"):
        assert client.get(f"/api/v1/audit/events?{query}", headers=headers).status_code == 422
    for query in ("until=0", "since=20260131", "day=1"):
        answer = client.get(f"/api/v1/analytics/requests?metric=submitted&{query}", headers=headers)
        assert answer.status_code == 422
    written = "since=2026-01-01T00:00:00Z&until=2026-01-31T09:30:00%2B01:00"
    assert client.get(f"/api/v1/audit/events?{written}", headers=headers).status_code == 200
    answer = client.get(
        "/api/v1/analytics/adoption?since=2026-01-01&until=2026-01-31", headers=headers
    )
    assert answer.status_code == 200


def test_the_openapi_document_lists_the_errors_each_operation_answers(
    client: TestClient,
) -> None:
    paths = client.get("/openapi.json").json()["paths"]

    def answers(method: str, path: str) -> list[str]:
        return sorted(paths[path][method]["responses"])

    assert answers("get", "/api/v1/me") == ["200", "401", "403"]
    assert answers("get", "/api/v1/requests/{request_id}") == ["200", "401", "403", "404", "422"]
    submit = paths["/api/v1/requests"]["post"]["responses"]
    assert sorted(submit) == ["201", "400", "401", "403", "404", "409", "413", "422", "429"]
    assert submit["429"]["headers"]["Retry-After"]["required"] is True
    assert submit["404"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    # The run's own token, not a person's: never refused for scopes or roles.
    assert "403" not in paths["/api/v1/runs/{run_id}/callback"]["post"]["responses"]
    table = paths["/api/v1/analytics/{name}"]["get"]["responses"]["200"]["content"]
    assert sorted(table) == ["application/json", "text/csv"]
    assert "text/csv" not in paths["/api/v1/me"]["get"]["responses"]["200"]["content"]
