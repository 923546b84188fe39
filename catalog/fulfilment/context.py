"""What a fulfilment handler is given: one attempt, or one dry run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

REQUEST_EVENT = "request.fulfil"
OPERATION_EVENT = "instance.operation"  # a day-2 operation on an instance
TEST_EVENT = "test"


@dataclass(frozen=True)
class FulfilmentContext:
    """One attempt (or, with ``event_type="test"``, one dry run) as a handler sees it."""

    run_id: int
    attempt: int
    request_id: int | None  # an email about a demand is about no request
    offering_slug: str
    offering_version: int
    inputs: dict[str, Any]
    requester: dict[str, Any]
    spec: dict[str, Any]
    secret: str | None
    callback_url: str
    callback_token: str
    event_type: str = REQUEST_EVENT
    correlation_id: str | None = None  # of the HTTP request that created the run
    delivery_id: str = ""  # the webhook-id when it is not the run id (dry runs)
    # The pipeline step (name, position, params) and what earlier steps gave back.
    step: dict[str, Any] = field(default_factory=dict)
    earlier_outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The cancellation signal: true once the request was cancelled (or the attempt was
    # taken over); a long plugin checks it and stops.
    cancelled: Callable[[], bool] = field(default=lambda: False, compare=False, repr=False)
    # The instance the request makes or runs a day-2 operation on (id, name, state,
    # spec, outputs), and the operation's name.
    instance: dict[str, Any] | None = None
    operation: str | None = None

    @property
    def webhook_id(self) -> str:
        """The same for every attempt of a run: the receiver's deduplication key."""
        return self.delivery_id or str(self.run_id)

    def envelope(self, *, timestamp: int) -> dict[str, Any]:
        """The JSON body sent to a webhook receiver."""
        request: dict[str, Any] = {
            "id": self.request_id,
            "offering": self.offering_slug,
            "offering_version": self.offering_version,
            "inputs": self.inputs,
            "requester": self.requester,
        }
        data: dict[str, Any] = {
            "request": request,
            "run": {"id": self.run_id, "attempt": self.attempt},
            "callback": {"url": self.callback_url, "token": self.callback_token},
        }
        if self.step:
            data["step"] = self.step
            data["outputs"] = self.earlier_outputs
        if self.instance is not None:
            request["operation"] = self.operation
            data["instance"] = self.instance
        return {"type": self.event_type, "timestamp": timestamp, "data": data}
