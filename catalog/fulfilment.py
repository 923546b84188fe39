"""What fulfilment code is given, and where plugins come from.

Shared by the catalog (the readiness dry run) and the requests engine (real
attempts): one context shape, one way to find a plugin.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from pydantic import BaseModel, ValidationError

PLUGIN_GROUP = "servicebay.fulfilment"


@dataclass(frozen=True)
class FulfilmentContext:
    """One attempt (or, with ``event_type="test"``, one dry run) as a handler sees it."""

    run_id: int
    attempt: int
    request_id: int
    offering_slug: str
    offering_version: int
    inputs: dict[str, Any]
    requester: dict[str, Any]
    spec: dict[str, Any]
    secret: str | None
    callback_url: str
    callback_token: str
    event_type: str = "request.fulfil"
    correlation_id: str | None = None  # of the HTTP request that created the run

    def envelope(self, *, timestamp: int) -> dict[str, Any]:
        """The JSON body sent to a webhook receiver."""
        return {
            "type": self.event_type,
            "timestamp": timestamp,
            "data": {
                "request": {
                    "id": self.request_id,
                    "offering": self.offering_slug,
                    "offering_version": self.offering_version,
                    "inputs": self.inputs,
                    "requester": self.requester,
                },
                "run": {"id": self.run_id, "attempt": self.attempt},
                "callback": {"url": self.callback_url, "token": self.callback_token},
            },
        }


class PluginMissing(Exception):
    pass


def load_plugin(name: str) -> Any:
    """An instance of the installed plugin called ``name``; PluginMissing otherwise."""
    for entry in entry_points(group=PLUGIN_GROUP):
        if entry.name == name:
            return entry.load()()
    raise PluginMissing(f"no fulfilment plugin named {name!r} is installed")


def settings_problem(plugin: Any, settings: dict[str, Any]) -> str | None:
    """None when the plugin's own Settings model accepts ``settings``; else the first problem."""
    model = getattr(plugin, "Settings", None)
    if isinstance(model, type) and issubclass(model, BaseModel):
        try:
            model.model_validate(settings)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "settings"
            return f"{where}: {first['msg']}"
    return None
