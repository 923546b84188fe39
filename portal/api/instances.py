"""Instances in the JSON API: yours and your teams', one with its operations and timeline,
and running a day-2 operation on it (idempotent)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, Field

from servicebay.portal.deps import ApiUser, AppSettings, DbSession, limit_rate, require_scope
from servicebay.requests import expiry, instances
from servicebay.requests import service as requests_service
from servicebay.requests.models import Instance
from servicebay.requests.schemas import InstanceOut, InstanceStoryOut, RequestOut

router = APIRouter(tags=["instances"])

STATE_HELP = "live (not retired), or one of: " + ", ".join(instances.STATES)


class OperationIn(BaseModel):
    inputs: dict[str, Any] = Field(
        default_factory=dict, description="The operation's form; left out: prefilled from the spec"
    )


@router.get("/instances", response_model=list[InstanceOut])
def list_instances(
    db: DbSession,
    user: ApiUser,
    whose: Annotated[
        Literal["mine", "team"], Query(description="yours, or your teams' instances")
    ] = "mine",
    state: Annotated[str, Query(max_length=20, description=STATE_HELP)] = "",
) -> list[Instance]:
    """Your instances (or your teams'), newest first, as the My instances pages list them."""
    if whose == "team":
        return instances.list_for_teams(db, viewer=user, state=state)
    return instances.list_mine(db, viewer=user, state=state)


@router.get("/instances/{instance_id}", response_model=InstanceStoryOut)
def get_instance(instance_id: int, db: DbSession, user: ApiUser) -> InstanceStoryOut:
    """An instance with its operations (whether you may run each now, and why not), its
    timeline and the requests on it; anyone else's is 404."""
    return instances.story_of(db, viewer=user, instance_id=instance_id)


@router.post("/instances/{instance_id}/extend", response_model=InstanceOut)
def extend_instance(request: Request, instance_id: int, db: DbSession, user: ApiUser) -> Instance:
    """Extend the instance's lease by its offering's extension, never past the longest
    lifetime it allows: 409 with the reason when it cannot be extended."""
    require_scope(request, "request")
    extended = expiry.extend(db, actor=user, instance_id=instance_id)
    db.commit()
    return extended


@router.post(
    "/instances/{instance_id}/operations/{operation}", response_model=RequestOut, status_code=201
)
def run_operation(
    request: Request,
    response: Response,
    instance_id: int,
    operation: Annotated[str, Path(max_length=64)],
    body: OperationIn,
    db: DbSession,
    user: ApiUser,
    settings: AppSettings,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)
    ] = None,
) -> RequestOut:
    """Run a day-2 operation: a request on the instance. 404 for someone else's instance or
    an unknown operation, 403 for an operation you may not run, 409 while another operation
    is open on it or when it is not active, 422 for inputs its form refuses."""
    require_scope(request, "request")
    limit_rate(
        request, db, action="submissions", limit=settings.rate_limit_submit, who=f"user:{user.id}"
    )
    if idempotency_key is None:
        created = requests_service.run_operation(
            db, actor=user, instance_id=instance_id, operation=operation, inputs=body.inputs
        )
    else:
        key = idempotency_key.strip()
        if not 1 <= len(key) <= 255:
            raise HTTPException(400, "Idempotency-Key must be 1 to 255 characters")
        created, replayed = requests_service.run_operation_once(
            db,
            actor=user,
            key=key,
            instance_id=instance_id,
            operation=operation,
            inputs=body.inputs,
        )
        if replayed:
            response.headers["Idempotent-Replayed"] = "true"
    answer = RequestOut.model_validate(created)
    db.commit()
    return answer
