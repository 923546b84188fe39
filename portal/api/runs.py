"""Callbacks from fulfilment receivers: progress, success with outputs, failure.

Authenticated by the run's own bearer token (sent in the webhook envelope and stored
hashed), not by a person's API token.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from servicebay.portal.deps import DbSession
from servicebay.requests.fulfilment import engine

router = APIRouter(tags=["runs"])


class CallbackIn(BaseModel):
    status: Literal["progress", "succeeded", "failed"]
    message: str = Field(default="", max_length=2000)
    outputs: dict[str, Any] = Field(default_factory=dict)


class CallbackOut(BaseModel):
    run: int
    status: str
    attempt: int


@router.post("/runs/{run_id}/callback", response_model=CallbackOut)
def run_callback(run_id: int, body: CallbackIn, request: Request, db: DbSession) -> CallbackOut:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "send the run's callback token as a bearer token")
    run = engine.callback(
        db,
        run_id=run_id,
        token=token.strip(),
        status=body.status,
        message=body.message,
        outputs=body.outputs,
        timing=request.app.state.timing,
    )
    return CallbackOut(run=run.id, status=run.status, attempt=run.attempt)
