"""Ranked search and browse over what consumers may see.

Browsing (no words) pages through the catalog's outline that each process keeps
(catalog/browse.py). Words are matched, on every database alike, against the words of
the visible catalog that each process also keeps (catalog/search_index.py): word
starts, typos and the owner teams' keywords find offerings, and a query that finds
nothing gets a suggestion ("did you mean …"). Ranked results are kept until the catalog
changes. ``search`` is the one function faces call; it also records the search for
demand analytics.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, lazyload

from servicebay.catalog import browse, search_index
from servicebay.catalog.browse import VISIBLE_STATUSES
from servicebay.catalog.models import Offering
from servicebay.core import events
from servicebay.core.cache import PerDatabase
from servicebay.core.identity import User

MAX_WORDS = 10


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
    # On a search that found nothing: a query close to it that finds something, or "".
    did_you_mean: str = ""

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def words_of(query: str) -> list[str]:
    return search_index.words_of(query)[:MAX_WORDS]


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
    did_you_mean = ""
    if words:
        total, page_ids, did_you_mean = _matching(
            session, outline, viewer, words, filters, start, per_page
        )
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
        did_you_mean=did_you_mean,
    )


def _matching(
    session: Session,
    outline: browse.Snapshot,
    viewer: User | None,
    words: list[str],
    filters: Filters,
    start: int,
    per_page: int,
) -> tuple[int, list[int], str]:
    """Count and page the offerings the words find among those the viewer may see, best
    first, with a suggestion when there are none."""
    allowed = tuple(listed.id for listed in outline.restricted_for(viewer))
    return _results.get(
        session,
        outline.token,
        lambda: _ranked(session, outline, allowed, words, filters, start, per_page),
        slot=(tuple(words), filters, start, per_page, allowed),
    )


# Results of recent searches, until the catalog changes: people search for the same few
# things.
_results: PerDatabase[tuple[int, list[int], str]] = PerDatabase(max_slots=5_000)


def _ranked(
    session: Session,
    outline: browse.Snapshot,
    allowed: tuple[int, ...],
    words: list[str],
    filters: Filters,
    start: int,
    per_page: int,
) -> tuple[int, list[int], str]:
    index = _index(session, outline.token)
    listed_by_id = outline.by_id
    restricted_allowed = frozenset(allowed)

    def shown(offering_id: int) -> bool:
        listed = listed_by_id.get(offering_id)
        return (
            listed is not None
            and (not listed.visible_team_ids or offering_id in restricted_allowed)
            and listed.matches(filters.category, filters.team, filters.tag)
        )

    ranked = index.rank(words, shown)
    did_you_mean = "" if ranked else index.suggestion(words, shown)
    return len(ranked), ranked[start : start + per_page], did_you_mean


_indexes: PerDatabase[search_index.Index] = PerDatabase()


def _index(session: Session, token: str) -> search_index.Index:
    """The words of the visible catalog as of the change token ``token``."""

    def read() -> search_index.Index:
        rows = session.execute(
            select(
                Offering.id,
                Offering.name,
                Offering.keywords,
                Offering.tags,
                Offering.category,
                Offering.summary,
            ).where(Offering.status.in_(VISIBLE_STATUSES))
        )
        return search_index.Index(
            (id_, name, keywords or [], tags or [], category or "", summary or "")
            for id_, name, keywords, tags, category, summary in rows
        )

    return _indexes.get(session, token, read)


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
