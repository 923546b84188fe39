"""Errors raised by the catalog context."""

from __future__ import annotations

from typing import Any


class CatalogError(Exception):
    """Base of every catalog error."""


class OfferingNotFound(CatalogError):
    def __init__(self, slug: str) -> None:
        super().__init__(f"no offering {slug!r}")
        self.slug = slug


class OfferingConflict(CatalogError):
    """The offering exists already, or is in a state that forbids the operation."""


class CatalogPermissionDenied(CatalogError):
    """The actor may not do this to the offering."""


class InvalidOffering(CatalogError):
    """The offering's definition is invalid; ``problems`` maps a field path to a message."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(f"{path}: {message}" for path, message in problems.items()))
        self.problems = problems


class InputsInvalid(CatalogError):
    """Request inputs failed the form; ``problems`` maps each field name to a message."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {message}" for name, message in problems.items()))
        self.problems = problems


class NotReady(CatalogError):
    """Publishing was refused: ``failing`` lists the readiness checks that do not pass."""

    def __init__(self, failing: list[Any]) -> None:
        super().__init__(
            "not ready to publish: " + "; ".join(f"{check.label}" for check in failing)
        )
        self.failing = failing
        self.problems = {check.name: check.hint or check.label for check in failing}
