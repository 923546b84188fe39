"""Ranked search and browse over what consumers may see.

Browsing (no words) pages through the catalog's outline that each process keeps
(catalog/browse.py). With words, on PostgreSQL they are matched with full-text search
(prefix terms over a weighted tsvector of name, tags, category and summary, ranked by
ts_rank); on SQLite every word must appear in one of those columns and the rank weighs
where it appears. Ranked results are kept until the catalog changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy.orm import Session, lazyload

from servicebay.catalog import browse
from servicebay.catalog.browse import VISIBLE_STATUSES, visible_to_text
from servicebay.catalog.models import Offering
from servicebay.core import events
from servicebay.core.cache import PerDatabase
from servicebay.core.identity import Team, User


@dataclass(frozen=True)
class Filters:
    category: str = ""
    team: str = ""
    tag: str = ""

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v}


@dataclass
class SearchPage:
    offerings: list[Offering]
    total: int
    page: int
    per_page: int
    facets: dict[str, list[str]] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def words_of(query: str) -> list[str]:
    return re.findall(r"[\w]+", query.lower())[:10]


def find(
    session: Session,
    *,
    viewer: User | None,
    query: str = "",
    filters: Filters | None = None,
    page: int = 1,
    per_page: int = 20,
    cards_only: bool = False,
) -> SearchPage:
    """One page of what the viewer may see; ``cards_only`` leaves each offering's current
    version unloaded (as listed on cards), for pages that do not show it."""
    filters = filters or Filters()
    per_page = max(1, min(per_page, 500))
    page = max(1, page)
    start = (page - 1) * per_page
    outline = browse.snapshot(session)
    words = words_of(query)
    if words:
        total, page_ids = _matching(session, outline, viewer, words, filters, start, per_page)
    else:  # browsing: the order and the filters are the outline's, kept in memory
        shown = outline.browse(viewer, **vars(filters))
        total, page_ids = len(shown), [listed.id for listed in shown[start : start + per_page]]
    statement = select(Offering).where(Offering.id.in_(page_ids))
    if cards_only:
        statement = statement.options(lazyload(Offering.current_version))
    loaded = session.scalars(statement).unique()
    by_id = {offering.id: offering for offering in loaded}
    return SearchPage(
        offerings=[by_id[id_] for id_ in page_ids if id_ in by_id],
        total=total,
        page=page,
        per_page=per_page,
        facets=outline.facets(viewer),
    )


def _matching(
    session: Session,
    outline: browse.Snapshot,
    viewer: User | None,
    words: list[str],
    filters: Filters,
    start: int,
    per_page: int,
) -> tuple[int, list[int]]:
    """Count and page the offerings matching every word, best match first, in SQL:
    those shown to everyone plus the few restricted ones this viewer may see."""
    allowed = [listed.id for listed in outline.restricted_for(viewer)]
    return _results.get(
        session,
        outline.token,
        lambda: _ranked(session, allowed, words, filters, start, per_page),
        slot=(tuple(words), filters, start, per_page, tuple(allowed)),
    )


# Results of recent searches, until the catalog changes: people search for the same few
# things, and ranking thousands of matches is the costliest query of the portal.
_results: PerDatabase[tuple[int, list[int]]] = PerDatabase(max_slots=5_000)


def _ranked(
    session: Session,
    allowed: list[int],
    words: list[str],
    filters: Filters,
    start: int,
    per_page: int,
) -> tuple[int, list[int]]:
    postgres = _dialect(session) == "postgresql"
    match, rank = _postgres_match(words) if postgres else _portable_match(words)
    statement = _filtered(
        select(Offering.id).where(
            Offering.status.in_(VISIBLE_STATUSES),
            or_(visible_to_text() == "[]", Offering.id.in_(allowed)),
            match,
        ),
        filters,
    )
    total = session.scalar(statement.with_only_columns(func.count())) or 0
    ranked = statement.order_by(rank.desc(), Offering.name).limit(per_page).offset(start)
    return total, list(session.scalars(ranked))


def search(
    session: Session,
    *,
    viewer: User | None,
    query: str = "",
    filters: Filters | None = None,
    page: int = 1,
    per_page: int = 20,
    cards_only: bool = False,
) -> SearchPage:
    """Find, and record the search (query, filters, result count) as an Event."""
    filters = filters or Filters()
    result = find(
        session,
        viewer=viewer,
        query=query,
        filters=filters,
        page=page,
        per_page=per_page,
        cards_only=cards_only,
    )
    record(session, viewer=viewer, query=query, filters=filters, results=result.total)
    return result


def record(
    session: Session, *, viewer: User | None, query: str, filters: Filters, results: int
) -> None:
    """A search (words or filters) as an Event, with how many offerings it found."""
    if query.strip() or filters.as_dict():
        events.record(
            session,
            type="catalog.searched",
            actor_id=viewer.id if viewer else None,
            data={"query": query.strip(), "filters": filters.as_dict(), "results": results},
        )


def _dialect(session: Session) -> str:
    bind = session.get_bind()
    return bind.dialect.name


def _filtered(statement: Any, filters: Filters) -> Any:
    if filters.category:
        statement = statement.where(Offering.category == filters.category)
    if filters.team:
        statement = statement.join(Team, Team.id == Offering.owner_team_id).where(
            Team.slug == filters.team
        )
    if filters.tag:
        quoted = '"' + filters.tag.replace("\\", "").replace('"', "") + '"'
        statement = statement.where(cast(Offering.tags, String).contains(quoted))
    return statement


def _document() -> ColumnElement[Any]:
    """The weighted tsvector searched on PostgreSQL. Written with constants, not bound
    parameters, so that it is the very expression of the index that serves it
    (ix_catalog_offering_search; keep the two the same)."""

    def weighted(column: Any, weight: str) -> ColumnElement[Any]:
        # The weight is a constant "char", which a bound (varchar) parameter is not.
        label: ColumnElement[Any] = literal_column(f"'{weight}'")
        vector = func.to_tsvector(literal_column("'simple'"), func.coalesce(column, EMPTY))
        return func.setweight(vector, label)

    return (
        weighted(Offering.name, "A")
        .op("||")(weighted(cast(Offering.tags, String), "B"))
        .op("||")(weighted(Offering.category, "C"))
        .op("||")(weighted(Offering.summary, "D"))
    )


EMPTY: ColumnElement[str] = literal_column("''")


def _postgres_match(words: list[str]) -> tuple[ColumnElement[bool], ColumnElement[Any]]:
    query = func.to_tsquery("simple", " & ".join(f"{word}:*" for word in words))
    document = _document()
    return document.op("@@")(query), func.ts_rank(document, query)


def _portable_match(words: list[str]) -> tuple[ColumnElement[bool], ColumnElement[Any]]:
    columns = [(Offering.name, 8), (cast(Offering.tags, String), 4), (Offering.category, 2)]
    columns.append((Offering.summary, 1))
    matches = []
    rank: ColumnElement[Any] = literal(0)
    for word in words:
        pattern = f"%{word}%"
        matches.append(or_(*(func.lower(column).like(pattern) for column, _ in columns)))
        for column, weight in columns:
            rank = rank + case((func.lower(column).like(pattern), weight), else_=0)
    return and_(*matches), rank
