"""A fulfilment plugin for the demo: no outside service, and one run that fails on purpose.

While the demo organisation is loaded (``first_runs_fail()``), a request whose inputs carry
the offering's ``marker`` fails its run, so the ops board's failed lane shows a card from
the first start. Outside the loading (a Retry pressed in the portal, or the worker of a
test) the same request completes as any other: the retry fixes it, every time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel, ConfigDict

from servicebay.catalog.fulfilment.plugins import FulfilmentContext, Outcome

_loading = False


@contextmanager
def first_runs_fail() -> Iterator[None]:
    """Marked requests fail while the block runs (the demo's first fulfilment pass)."""
    global _loading
    _loading = True
    try:
        yield
    finally:
        _loading = False


class FlakyPlugin:
    """Completes at once, like ``echo``; a marked request fails while the demo loads."""

    class Settings(BaseModel):
        model_config = ConfigDict(extra="forbid")
        message: str = "Done."
        marker: str = "legacy"
        failure: str = "the provider refused the change; retrying usually works"

    def fulfil(self, context: FulfilmentContext, settings: Any) -> Outcome:
        marked = any(
            isinstance(value, str) and settings.marker in value for value in context.inputs.values()
        )
        if _loading and marked and context.event_type != "test":
            return Outcome.fatal(settings.failure)
        return Outcome.succeeded({"message": settings.message}, "demo plugin completed the request")
