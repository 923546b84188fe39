"""The requester's pages: my requests and one request with its live status."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from servicebay.core import events
from servicebay.portal.deps import DbSession, PageUser
from servicebay.portal.render import render
from servicebay.requests import lifecycle
from servicebay.requests import service as requests_service
from servicebay.requests.fulfilment import engine
from servicebay.requests.models import RequestStatus

router = APIRouter()


@router.get("/requests", name="my_requests")
def my_requests(request: Request, db: DbSession, user: PageUser) -> Response:
    requests = requests_service.list_for_requester(db, requester=user)
    return render(request, "requests/request_list.html", {"requests": requests})


@router.get("/requests/{request_id}", name="request_page")
def request_page(request: Request, request_id: int, db: DbSession, user: PageUser) -> Response:
    found = requests_service.get_for_viewer(db, request_id=request_id, viewer=user)
    runs = engine.runs_for_request(db, request_id=found.id)
    context = {
        "req": found,
        "in_flight": RequestStatus(found.status) not in lifecycle.CLOSED
        and found.status != RequestStatus.FAILED.value,
        "timeline": events.for_request(db, request_id=found.id),
        "runs": runs,
        "log": engine.log_lines(db, run_ids=[run.id for run in runs]),
    }
    return render(request, "requests/request_detail.html", context, block="live")
