"""Plugin fulfilment: Python code found through the ``servicebay.fulfilment`` entry points."""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

from servicebay.catalog.fulfilment import FulfilmentContext, PluginMissing, load_plugin
from servicebay.requests.fulfilment.engine import Outcome


class FulfilmentPlugin(Protocol):
    """What a plugin class provides. ``Settings`` validates the offering's settings."""

    Settings: type[BaseModel]

    def fulfil(self, context: FulfilmentContext, settings: Any) -> Outcome: ...


def load(name: str) -> FulfilmentPlugin:
    plugin: FulfilmentPlugin = load_plugin(name)
    return plugin


def run(context: FulfilmentContext) -> Outcome:
    try:
        plugin = load(str(context.spec["plugin"]))
    except PluginMissing as missing:
        return Outcome.fatal(str(missing))
    try:
        settings = plugin.Settings.model_validate(context.spec.get("settings", {}))
    except ValidationError as invalid:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in invalid.errors()
        )
        return Outcome.fatal(f"the offering's plugin settings are invalid: {problems}")
    return plugin.fulfil(context, settings)


class EchoPlugin:
    """Completes at once and returns the inputs as outputs: for demos and tests."""

    class Settings(BaseModel):
        model_config = ConfigDict(extra="forbid")
        message: str = "Done."

    def fulfil(self, context: FulfilmentContext, settings: Any) -> Outcome:
        outputs = {
            "message": settings.message,
            **{f"echo_{k}": v for k, v in context.inputs.items()},
        }
        return Outcome.succeeded(outputs, "echo plugin completed the request")
