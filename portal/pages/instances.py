"""Instances: mine, my team's, and one instance with its operations and timeline; running
a day-2 operation from its form (prefilled from the instance's spec)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from servicebay.catalog.errors import InputsInvalid
from servicebay.core.identity import User
from servicebay.portal.deps import AppSettings, DbSession, PageUser, SubmittedForm, limit_rate
from servicebay.portal.pages.catalog import inputs_from_form
from servicebay.portal.render import render, see_other
from servicebay.requests import expiry, instances
from servicebay.requests import service as requests_service
from servicebay.requests.errors import InstanceBusy, InstanceNotOperable
from servicebay.requests.models import Instance

router = APIRouter()

STATE_CHOICES = {
    "live": "Not retired",
    "": "Any state",
    **{state: state.capitalize() for state in instances.STATES},
}


@router.get("/instances", name="my_instances")
def my_instances(request: Request, db: DbSession, user: PageUser, state: str = "live") -> Response:
    rows = instances.list_mine(db, viewer=user, state=state)
    return _list(request, rows, state=state, whose="mine")


@router.get("/instances/team", name="team_instances")
def team_instances(
    request: Request, db: DbSession, user: PageUser, state: str = "live"
) -> Response:
    rows = instances.list_for_teams(db, viewer=user, state=state)
    return _list(request, rows, state=state, whose="team")


def _list(request: Request, rows: list[Instance], *, state: str, whose: str) -> Response:
    context = {"rows": rows, "state": state, "whose": whose, "state_choices": STATE_CHOICES}
    return render(request, "requests/instance_list.html", context, block="results")


@router.get("/instances/{instance_id}", name="instance_page")
def instance_page(request: Request, instance_id: int, db: DbSession, user: PageUser) -> Response:
    instance = instances.get_for_viewer(db, instance_id=instance_id, viewer=user)
    return _instance_response(request, db, instance, user)


@router.post("/instances/{instance_id}/operations/{operation}", name="instance_operate")
def instance_operate(
    request: Request,
    instance_id: int,
    operation: str,
    db: DbSession,
    user: PageUser,
    data: SubmittedForm,
    settings: AppSettings,
) -> Response:
    limit_rate(
        request, db, action="submissions", limit=settings.rate_limit_submit, who=f"user:{user.id}"
    )
    instance = instances.get_for_viewer(db, instance_id=instance_id, viewer=user)
    chosen = instances.operation(instance, operation)
    inputs = inputs_from_form(chosen.form, data)
    try:
        created = requests_service.run_operation(
            db, actor=user, instance_id=instance.id, operation=chosen.name, inputs=inputs
        )
    except InputsInvalid as invalid:
        db.rollback()
        return _instance_response(
            request,
            db,
            instance,
            user,
            open_operation=chosen.name,
            values=inputs,
            problems=invalid.problems,
            status_code=422,
        )
    except (InstanceBusy, InstanceNotOperable) as refused:
        db.rollback()
        return _instance_response(request, db, instance, user, notice=str(refused), status_code=409)
    target = str(request.url_for("request_page", request_id=created.id))
    return see_other(
        request, target, notice=f"{chosen.title} requested on {instance.name}: #{created.id}."
    )


@router.post("/instances/{instance_id}/extend", name="instance_extend")
def instance_extend(request: Request, instance_id: int, db: DbSession, user: PageUser) -> Response:
    try:
        extended = expiry.extend(db, actor=user, instance_id=instance_id)
    except InstanceNotOperable as refused:
        db.rollback()
        instance = instances.get_for_viewer(db, instance_id=instance_id, viewer=user)
        return _instance_response(request, db, instance, user, notice=str(refused), status_code=409)
    target = str(request.url_for("instance_page", instance_id=instance_id))
    when = f"{extended.expires_at:%Y-%m-%d %H:%M} UTC" if extended.expires_at else ""
    return see_other(request, target, notice=f"{extended.name} now expires on {when}.")


def _instance_response(
    request: Request,
    db: DbSession,
    instance: Instance,
    user: User,
    *,
    open_operation: str = "",
    values: dict[str, Any] | None = None,
    problems: dict[str, str] | None = None,
    notice: str = "",
    status_code: int = 200,
) -> Response:
    db.refresh(instance)
    context = {
        "instance": instance,
        "offered": instances.offered_to(user, instance),
        "prefilled": {
            each.name: instances.prefilled(instance, each)
            for each in instances.operations_of(instance)
        },
        "timeline": instances.timeline(db, viewer=user, instance=instance),
        "requests_on": instances.requests_on(db, instance=instance),
        "open_operation": open_operation,
        "values": values or {},
        "problems": problems or {},
        "notice": notice,
        "extension_refused": expiry.extension_refused(user, instance),
    }
    return render(request, "requests/instance_detail.html", context, status_code=status_code)
