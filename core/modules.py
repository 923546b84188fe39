"""Import every module of the package, so every table is registered on the metadata."""

from __future__ import annotations

import importlib
import pkgutil

CONTEXTS = ("core", "catalog", "requests", "analytics", "portal")


def import_all() -> None:
    for context in CONTEXTS:
        package = importlib.import_module(f"servicebay.{context}")
        for module in pkgutil.walk_packages(package.__path__, prefix=f"servicebay.{context}."):
            importlib.import_module(module.name)
