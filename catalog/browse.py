"""What browsing needs from the whole catalog, kept in each process per catalog change.

The filter menus, the categories with their counts, the newest offerings and the few
offerings shown only to some teams change only when the catalog does. Each process
computes them once per change token (``catalog_change``, replaced in the transaction
of every offering or team write) and answers pages from memory after one primary-key
lookup, instead of scanning every offering on every page of a 10,000-offering catalog.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from sqlalchemy import ColumnElement, String, cast, select
from sqlalchemy.orm import Session, lazyload

from servicebay.catalog import policies
from servicebay.catalog.models import CHANGE_ROW, CatalogChange, Offering, replace_change_token
from servicebay.core.cache import PerDatabase
from servicebay.core.identity import Team, User

VISIBLE_STATUSES = ("published", "deprecated")
NEWEST_KEPT = 20
SHOWN = 4  # popular and new offerings on the home page
# Figures over the last month (requests per offering) move with every request and no
# change token follows them: they are kept for a minute, so that the pages every visitor
# opens do not count a month of requests on every visit.
RECENT_FIGURES_MAX_AGE_SECONDS = 60.0


@dataclass(frozen=True)
class Listed:
    """One visible offering as browsing needs it; ``position`` is its place in the
    browse order (category, then name)."""

    id: int
    position: int
    category: str
    team: str  # the owner team's slug, which filters name
    team_name: str  # and its name, which people read
    tags: tuple[str, ...]
    visible_team_ids: tuple[int, ...]  # empty: shown to everyone
    published: bool
    created_at: datetime

    def shown_to(self, viewer: User | None) -> bool:
        return not self.visible_team_ids or policies.may_see(viewer, list(self.visible_team_ids))

    def matches(self, category: str, team: str, tag: str) -> bool:
        return (
            (not category or self.category == category)
            and (not team or self.team == team)
            and (not tag or tag in self.tags)
        )


@dataclass(frozen=True)
class Snapshot:
    """The visible catalog in outline, in browse order."""

    token: str  # the catalog change it was read at
    public: tuple[Listed, ...]  # shown to everyone
    restricted: tuple[Listed, ...]  # shown only to some teams (and the owners)

    @cached_property
    def categories(self) -> Counter[str]:
        """Offerings shown to everyone, per category."""
        return Counter(listed.category for listed in self.public)

    @cached_property
    def facets_of_public(self) -> dict[str, frozenset[str]]:
        return {
            "category": frozenset(self.categories),
            "team": frozenset(listed.team for listed in self.public),
            "tag": frozenset(tag for listed in self.public for tag in listed.tags),
        }

    @cached_property
    def by_id(self) -> dict[int, Listed]:
        """Every visible offering, restricted ones included, by id."""
        return {listed.id: listed for listed in (*self.public, *self.restricted)}

    @cached_property
    def published(self) -> frozenset[int]:
        """Ids of the published offerings shown to everyone."""
        return frozenset(listed.id for listed in self.public if listed.published)

    @cached_property
    def newest(self) -> list[Listed]:
        """The most recently created of those, newest first."""
        return _newest_first(listed for listed in self.public if listed.published)[:NEWEST_KEPT]

    def restricted_for(self, viewer: User | None) -> list[Listed]:
        return [listed for listed in self.restricted if listed.shown_to(viewer)]

    def browse(
        self, viewer: User | None, *, category: str = "", team: str = "", tag: str = ""
    ) -> Sequence[Listed]:
        """What the viewer may browse, filtered, in browse order."""
        mine = self.restricted_for(viewer)
        if not mine and not (category or team or tag):
            return self.public  # the common case, without copying the catalog
        shown = heapq.merge(self.public, mine, key=lambda listed: listed.position)
        return [listed for listed in shown if listed.matches(category, team, tag)]

    def facets(self, viewer: User | None) -> dict[str, list[str]]:
        """Categories, teams and tags of what the viewer may browse, for the filter menus."""
        mine = self.restricted_for(viewer)
        extra = {
            "category": {listed.category for listed in mine},
            "team": {listed.team for listed in mine},
            "tag": {tag for listed in mine for tag in listed.tags},
        }
        return {
            name: sorted(values | extra[name]) for name, values in self.facets_of_public.items()
        }

    def facet_choices(self, viewer: User | None) -> dict[str, list[tuple[str, str]]]:
        """The filter menus as (value, label) pairs in the order people read them: teams
        are filtered by slug and shown by name, as the offering cards show them."""
        names = {listed.team: listed.team_name for listed in self.public}
        names |= {listed.team: listed.team_name for listed in self.restricted_for(viewer)}
        choices = {
            name: [(value, value) for value in values]
            for name, values in self.facets(viewer).items()
        }
        choices["team"] = sorted(
            ((slug, names[slug]) for slug, _ in choices["team"]),
            key=lambda choice: choice[1].casefold(),
        )
        return choices

    def category_counts(self, viewer: User | None) -> list[tuple[str, int]]:
        counts = self.categories + Counter(r.category for r in self.restricted_for(viewer))
        return sorted(counts.items())

    def newest_ids(self, viewer: User | None, count: int) -> list[int]:
        """The ``count`` most recently created published offerings the viewer may see."""
        mine = (listed for listed in self.restricted_for(viewer) if listed.published)
        return [listed.id for listed in _newest_first([*self.newest, *mine])[:count]]

    def requestable(self, viewer: User | None) -> frozenset[int]:
        """Ids of the published offerings the viewer may see."""
        mine = (listed.id for listed in self.restricted_for(viewer) if listed.published)
        return self.published.union(mine)


def _newest_first(offerings: Iterable[Listed]) -> list[Listed]:
    return sorted(offerings, key=lambda listed: (listed.created_at, listed.id), reverse=True)


_snapshots: PerDatabase[Snapshot] = PerDatabase()


def change_token(session: Session) -> str:
    """The catalog's current change token (made on first use of a database)."""
    token = session.scalar(select(CatalogChange.token).where(CatalogChange.id == CHANGE_ROW))
    return token if token is not None else replace_change_token(session)


def snapshot(session: Session) -> Snapshot:
    """The outline of the visible catalog, as of this transaction's change token."""
    token = change_token(session)
    return _snapshots.get(session, token, lambda: _outline(session, token))


def _outline(session: Session, token: str) -> Snapshot:
    rows = session.execute(
        select(
            Offering.id,
            Offering.category,
            Team.slug,
            Team.name,
            Offering.tags,
            Offering.visible_team_ids,
            Offering.status,
            Offering.created_at,
        )
        .join(Team, Team.id == Offering.owner_team_id)
        .where(Offering.status.in_(VISIBLE_STATUSES))
        .order_by(Offering.category, Offering.name, Offering.id)
    )
    listed = [
        Listed(
            id=id_,
            position=position,
            category=category,
            team=team,
            team_name=team_name,
            tags=tuple(tags),
            visible_team_ids=tuple(visible_to),
            published=status == "published",
            created_at=created_at,
        )
        for position, (
            id_,
            category,
            team,
            team_name,
            tags,
            visible_to,
            status,
            created_at,
        ) in enumerate(rows)
    ]
    return Snapshot(
        token=token,
        public=tuple(offering for offering in listed if not offering.visible_team_ids),
        restricted=tuple(offering for offering in listed if offering.visible_team_ids),
    )


def popular(
    session: Session, viewer: User | None, outline: Snapshot, *, counts: Sequence[tuple[int, int]]
) -> list[tuple[Offering, int]]:
    """The offerings the viewer may request that were requested most lately, with their
    counts: the first ``SHOWN`` of ``counts`` ((offering id, requests), most first) that the
    viewer may request.

    The catalog knows nothing of requests, so the caller passes the counts in:
    ``analytics.adoption.most_requested`` counts the last 30 days' requests."""
    requestable = outline.requestable(viewer)
    shown = [(id_, count) for id_, count in counts if id_ in requestable][:SHOWN]
    by_id = _cards(session, [id_ for id_, _ in shown])
    return [(by_id[id_], count) for id_, count in shown if id_ in by_id]


def newest(session: Session, viewer: User | None, outline: Snapshot) -> list[Offering]:
    """The ``SHOWN`` most recently created published offerings the viewer may see."""
    ids = outline.newest_ids(viewer, SHOWN)
    by_id = _cards(session, ids)
    return [by_id[id_] for id_ in ids if id_ in by_id]


def _cards(session: Session, ids: list[int]) -> dict[int, Offering]:
    """Offerings by id, as an offering card shows them (without their current version)."""
    if not ids:
        return {}
    cards = select(Offering).where(Offering.id.in_(ids)).options(lazyload(Offering.current_version))
    return {offering.id: offering for offering in session.scalars(cards)}


def visible_to_text() -> ColumnElement[str]:
    """The teams an offering is shown to as JSON text: comparing "[]" needs no decoding."""
    return cast(Offering.visible_team_ids, String)
