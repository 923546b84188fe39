"""How a request moves through its offering's pipeline: one step at a time, each step's
run (or task) made in the transaction that records the previous step's outcome."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from servicebay.catalog import service as catalog_service
from servicebay.catalog.pipeline import next_step, rendered_checklist
from servicebay.catalog.schemas import ManualStep, PipelineFulfilment, WebhookStep
from servicebay.catalog.templates import TemplateFailure
from servicebay.core import events
from servicebay.requests import lifecycle, tasks
from servicebay.requests.fulfilment import engine
from servicebay.requests.models import (
    FulfilmentRun,
    Request,
    RequestStatus,
    RunKind,
    RunStatus,
    Task,
    TaskStatus,
)

OUTPUTS_MAX_BYTES = 64_000


def start(session: Session, *, request: Request, actor_id: int | None) -> None:
    """Begin the first step whose condition holds; with none, the request is complete."""
    _begin_after(session, request=request, position=-1, actor_id=actor_id)


def step_succeeded(
    session: Session,
    *,
    request: Request,
    position: int,
    outputs: dict[str, Any],
    actor_id: int | None,
    **event_data: Any,
) -> None:
    """Record a step's outputs on the request and begin the next step, or complete it."""
    request.outputs = {**(request.outputs or {}), **outputs}
    pipeline = catalog_service.pipeline_of(request.version, request.operation)
    if len(pipeline.steps) > 1:
        events.record(
            session,
            type="run.step_succeeded",
            actor_id=actor_id,
            offering_id=request.offering_id,
            request_id=request.id,
            data={"step": pipeline.steps[position].name, "position": position, **event_data},
        )
    _begin_after(session, request=request, position=position, actor_id=actor_id, **event_data)


def retry_failed_step(session: Session, *, request: Request) -> FulfilmentRun | Task:
    """Begin again the step that failed; the steps that succeeded are not run again."""
    failed = session.scalar(
        select(FulfilmentRun)
        .where(
            FulfilmentRun.request_id == request.id,
            FulfilmentRun.kind == RunKind.FULFIL.value,
            FulfilmentRun.status == RunStatus.DEAD.value,
        )
        .order_by(FulfilmentRun.id.desc())
        .limit(1)
    )
    position = failed.step if failed is not None else 0
    return _begin(
        session,
        request=request,
        pipeline=catalog_service.pipeline_of(request.version, request.operation),
        position=position,
    )


def outputs_by_step(session: Session, *, request_id: int) -> dict[str, dict[str, Any]]:
    """What each succeeded step of the request gave back, by step name."""
    found: dict[str, dict[str, Any]] = {}
    runs = session.execute(
        select(FulfilmentRun.step_name, FulfilmentRun.outputs)
        .where(
            FulfilmentRun.request_id == request_id,
            FulfilmentRun.kind == RunKind.FULFIL.value,
            FulfilmentRun.status == RunStatus.SUCCEEDED.value,
        )
        .order_by(FulfilmentRun.id)
    )
    for name, outputs in runs:
        found[name] = dict(outputs or {})
    done = session.execute(
        select(Task.step, Task.outputs)
        .where(Task.request_id == request_id, Task.status == TaskStatus.DONE.value)
        .order_by(Task.id)
    )
    request = session.get_one(Request, request_id)
    steps = catalog_service.pipeline_of(request.version, request.operation).steps
    for position, outputs in done:
        if position < len(steps):
            found[steps[position].name] = dict(outputs or {})
    return found


def bounded(outputs: dict[str, Any]) -> dict[str, Any]:
    """Outputs larger than the limit are replaced by a note that says so."""
    size = len(json.dumps(outputs, default=str))
    if size <= OUTPUTS_MAX_BYTES:
        return outputs
    return {
        "truncated": f"the step's outputs were {size} bytes; at most {OUTPUTS_MAX_BYTES} are kept"
    }


def cancel_url_of(request: Request, run: FulfilmentRun) -> str:
    """Where a webhook step wants to hear that its request was cancelled ('' for none)."""
    steps = catalog_service.pipeline_of(request.version, request.operation).steps
    step = steps[run.step] if run.step < len(steps) else None
    return step.cancel_url if isinstance(step, WebhookStep) else ""


def _begin_after(
    session: Session, *, request: Request, position: int, actor_id: int | None, **event_data: Any
) -> None:
    pipeline = catalog_service.pipeline_of(request.version, request.operation)
    following = next_step(pipeline, after=position, inputs=request.inputs or {})
    if following is None:
        if lifecycle.can_move(request, RequestStatus.COMPLETED):
            lifecycle.complete(session, request, actor_id=actor_id, **event_data)
        return
    _begin(session, request=request, pipeline=pipeline, position=following)


def _begin(
    session: Session, *, request: Request, pipeline: PipelineFulfilment, position: int
) -> FulfilmentRun | Task:
    step = pipeline.steps[position]
    if isinstance(step, ManualStep):
        earlier = outputs_by_step(session, request_id=request.id) if position else {}
        try:
            checklist = rendered_checklist(step, inputs=request.inputs or {}, outputs=earlier)
        except TemplateFailure as failure:
            checklist = [f"{item} (could not be filled in: {failure})" for item in step.checklist]
        task = tasks.create(session, request=request, checklist=checklist)
        task.step = position
        return task
    return engine.enqueue(
        session,
        request=request,
        max_attempts=step.max_attempts,
        step=position,
        step_name=step.name,
    )
