"""Plugin fulfilment: Python classes found through the ``servicebay.fulfilment`` entry points.

A plugin author imports everything from this module::

    from servicebay.catalog.fulfilment.plugins import FulfilmentContext, Outcome
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

from servicebay.catalog.fulfilment.context import FulfilmentContext
from servicebay.catalog.fulfilment.outcome import Outcome
from servicebay.core.errors import NotFound

__all__ = [
    "PLUGIN_GROUP",
    "EchoPlugin",
    "FulfilmentContext",
    "FulfilmentPlugin",
    "Outcome",
    "PluginMissing",
    "load",
    "problem_of",
    "run",
]

PLUGIN_GROUP = "servicebay.fulfilment"


class FulfilmentPlugin(Protocol):
    """What a plugin class provides. ``Settings`` validates the offering's settings.

    A plugin may also define ``test(context, settings) -> Outcome`` for dry runs; without
    one, a dry run calls ``fulfil`` with a context whose ``event_type`` is ``"test"``.
    """

    Settings: type[BaseModel]

    def fulfil(self, context: FulfilmentContext, settings: Any) -> Outcome: ...


class PluginMissing(NotFound):
    """No installed plugin has this name."""


def load(name: str) -> FulfilmentPlugin:
    """An instance of the installed plugin called ``name``; PluginMissing otherwise."""
    for entry in entry_points(group=PLUGIN_GROUP):
        if entry.name == name:
            plugin: FulfilmentPlugin = entry.load()()
            return plugin
    raise PluginMissing(f"no fulfilment plugin named {name!r} is installed")


def problem_of(name: str, settings: dict[str, Any]) -> str | None:
    """None when the plugin is installed and its Settings accept ``settings``; else why not."""
    try:
        plugin = load(name)
    except PluginMissing as missing:
        return str(missing)
    try:
        _settings(plugin, settings)
    except ValidationError as invalid:
        return _described(invalid)
    return None


def run(context: FulfilmentContext, *, dry: bool = False) -> Outcome:
    """Call the plugin the context's spec names; ``dry`` prefers its ``test`` method."""
    name = str(context.spec.get("plugin", ""))
    try:
        plugin = load(name)
    except PluginMissing as missing:
        return Outcome.fatal(str(missing))
    try:
        settings = _settings(plugin, context.spec.get("settings", {}))
    except ValidationError as invalid:
        return Outcome.fatal(f"the offering's plugin settings are invalid: {_described(invalid)}")
    handler = (getattr(plugin, "test", None) if dry else None) or plugin.fulfil
    outcome = handler(context, settings)
    if not isinstance(outcome, Outcome):
        return Outcome.fatal(f"plugin {name!r} answered {outcome!r} instead of an Outcome")
    return outcome


def _settings(plugin: FulfilmentPlugin, settings: dict[str, Any]) -> Any:
    model = getattr(plugin, "Settings", None)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return model.model_validate(settings)
    return settings


def _described(invalid: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'settings'}: {error['msg']}"
        for error in invalid.errors()
    )


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
