"""The app answers every error by its kind: JSON under /api, the HTML error page elsewhere."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from servicebay.core import identity
from servicebay.core.errors import Conflict, Invalid, NotFound, RateLimited, Unauthorized
from servicebay.portal.security import SESSION_COOKIE
from tests.factories import make_user


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
    assert "Page: Input should be a valid integer" in answer.text


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
