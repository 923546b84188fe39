"""One page of a list that can grow, and the links to its neighbours."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

from sqlalchemy import Select
from sqlalchemy.orm import Session

from servicebay.core import paging
from servicebay.core.paging import PAGE_SIZE

T = TypeVar("T")


@dataclass(frozen=True)
class Paged(Generic[T]):
    rows: Sequence[T]
    number: int
    pages: int
    total: int
    base: str
    params: Mapping[str, str]
    # The part of the page the links return to ("" = its top).
    anchor: str = ""

    def link(self, number: int) -> str:
        kept = {key: value for key, value in self.params.items() if value}
        fragment = f"#{self.anchor}" if self.anchor else ""
        return f"{self.base}?{urlencode({**kept, 'page': number})}{fragment}"

    @property
    def previous(self) -> str | None:
        return self.link(self.number - 1) if self.number > 1 else None

    @property
    def next(self) -> str | None:
        return self.link(self.number + 1) if self.number < self.pages else None


def paginate(
    session: Session,
    statement: Select[Any],
    *,
    number: int,
    base: str,
    params: Mapping[str, str] | None = None,
    size: int = PAGE_SIZE,
) -> Paged[Any]:
    """A page of the rows of a statement a context built, with its links."""
    return _linked(paging.page_of(session, statement, number=number, size=size), base, params)


def paginate_list(
    rows: Sequence[T],
    *,
    number: int,
    base: str,
    params: Mapping[str, str] | None = None,
    size: int = PAGE_SIZE,
    anchor: str = "",
) -> Paged[T]:
    return _linked(paging.page_of_list(rows, number=number, size=size), base, params, anchor)


def _linked(
    page: paging.Page[T], base: str, params: Mapping[str, str] | None, anchor: str = ""
) -> Paged[T]:
    return Paged(
        rows=page.rows,
        number=page.number,
        pages=page.pages,
        total=page.total,
        base=base,
        params=params or {},
        anchor=anchor,
    )
