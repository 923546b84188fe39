"""Errors raised by the catalog context; each is one kind of ``core.errors``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from servicebay.core.errors import Conflict, Denied, Invalid, NotFound


class CatalogError(Exception):
    """Base of every catalog error."""


class OfferingNotFound(CatalogError, NotFound):
    def __init__(self, slug: str) -> None:
        super().__init__(f"no offering {slug!r}")
        self.slug = slug


class OfferingConflict(CatalogError, Conflict):
    """The offering exists already, or is in a state that forbids the operation."""


class CatalogPermissionDenied(CatalogError, Denied):
    """The actor may not do this to the offering."""


class InvalidOffering(CatalogError, Invalid):
    """The offering's definition is invalid; ``problems`` maps a field path to a message."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        super().__init__(problems=problems)


class InputsInvalid(CatalogError, Invalid):
    """Request inputs failed the form; ``problems`` maps each field name to a message."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        super().__init__(problems=problems)


class NotReady(CatalogError, Conflict):
    """Publishing was refused: ``failing`` lists the readiness checks that do not pass."""

    def __init__(self, failing: list[Any]) -> None:
        super().__init__(
            "not ready to publish: " + "; ".join(f"{check.label}" for check in failing)
        )
        self.failing = failing
        self.problems = {check.name: check.hint or check.label for check in failing}


class DemandNotFound(CatalogError, NotFound):
    def __init__(self, demand_id: int) -> None:
        super().__init__(f"no demand {demand_id}")
        self.demand_id = demand_id


class DemandConflict(CatalogError, Conflict):
    """The demand's triage state does not allow this step."""


class SimilarDemands(DemandConflict):
    """Open demands like the one being filed exist: vote for one, or file it anyway."""

    def __init__(self, similar: Sequence[Any]) -> None:
        titles = "; ".join(f"#{demand.id} “{demand.title}”" for demand in similar)
        super().__init__(f"similar open demands exist: {titles}")
        self.similar = list(similar)


class InvalidDemand(CatalogError, Invalid):
    """The demand or its triage is invalid; ``problems`` maps a field to a message."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        super().__init__(problems=problems)


class FieldUnknown(CatalogError, NotFound):
    """The offering's form has no such field (or it is not one with options)."""
