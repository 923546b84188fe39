"""The modules that define tables, so every table is registered on the metadata.

The list is explicit: loading the tables (for a migration, say) imports these modules and
what they import, never the faces. `tests/core/test_modules.py` fails when a table is
defined in a module missing from it.
"""

from __future__ import annotations

import importlib

MODEL_MODULES = (
    "servicebay.core.identity",
    "servicebay.core.oidc",
    "servicebay.core.events",
    "servicebay.core.ratelimit",
    "servicebay.core.preferences",
    "servicebay.core.chat",
    "servicebay.core.idempotency",
    "servicebay.catalog.models",
    "servicebay.requests.models",
    "servicebay.analytics.models",
)


def import_models() -> None:
    for name in MODEL_MODULES:
        importlib.import_module(name)
