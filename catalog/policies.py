"""Who may do what in the catalog. Pure functions of the user and the offering."""

from __future__ import annotations

from servicebay.catalog.models import Offering
from servicebay.core.identity import Role, User


def can_edit_offering(user: User, offering: Offering) -> bool:
    return user.is_admin or user.role_in(offering.owner_team_id) is not None


def can_read_fulfilment(user: User, offering: Offering) -> bool:
    """Fulfilment settings (webhook URLs, plugin settings, timeouts) are the owner team's
    internals: its members and admins read them; requesters see only the kind."""
    return can_edit_offering(user, offering)


def can_create_offering_for(user: User, team_id: int) -> bool:
    return user.is_admin or user.role_in(team_id) is not None


def can_publish_offering(user: User, offering: Offering) -> bool:
    """Publishing, deprecating and retiring are for the owner team's leads."""
    return user.is_admin or user.role_in(offering.owner_team_id) is Role.LEAD


def can_manage_every_offering(user: User) -> bool:
    """Admins work on every team's offerings; others on their own teams'."""
    return user.is_admin


def can_override_readiness(user: User) -> bool:
    """Publishing past failing readiness checks (with a recorded reason) is for admins."""
    return user.is_admin


def can_see_offering(user: User | None, offering: Offering) -> bool:
    if user is not None and can_edit_offering(user, offering):
        return True
    if offering.status not in ("published", "deprecated"):
        return False
    return is_visible_to(user, offering)


def is_visible_to(user: User | None, offering: Offering) -> bool:
    """Visibility: everyone, or only the listed teams (and the owners)."""
    return may_see(user, offering.visible_team_ids)


def may_see(user: User | None, visible_team_ids: list[int]) -> bool:
    """Whether ``user`` sees an offering shown to ``visible_team_ids`` (empty: everyone)."""
    if not visible_team_ids:
        return True
    if user is None:
        return False
    return user.is_admin or any(team_id in visible_team_ids for team_id in user.team_ids)


def can_apply_catalog_files(user: User) -> bool:
    """Catalog-as-code at all: admins, and members of a team (teams own offerings).

    Checked before any file is read, so a stranger's files cost the server nothing."""
    return user.is_admin or bool(user.team_ids)


def can_apply_catalog_entry(
    user: User, *, action: str, offering: Offering | None, team_id: int | None
) -> bool:
    """Catalog-as-code: creating needs the owner team, changing the offering's editors,
    deprecating an offering the files no longer name its leads."""
    if action == "deprecate":
        return offering is not None and can_publish_offering(user, offering)
    if offering is None:
        return team_id is not None and can_create_offering_for(user, team_id)
    return can_edit_offering(user, offering)
