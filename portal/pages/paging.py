"""One page of a list that can grow, and the links to its neighbours."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from math import ceil
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")
PAGE_SIZE = 20


@dataclass(frozen=True)
class Paged(Generic[T]):
    rows: Sequence[T]
    number: int
    pages: int
    total: int
    base: str
    params: Mapping[str, str]

    def link(self, number: int) -> str:
        kept = {key: value for key, value in self.params.items() if value}
        return f"{self.base}?{urlencode({**kept, 'page': number})}"

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
    total = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    pages = max(1, ceil((total or 0) / size))
    number = min(max(1, number), pages)
    rows = list(session.scalars(statement.limit(size).offset((number - 1) * size)))
    return Paged(
        rows=rows, number=number, pages=pages, total=total or 0, base=base, params=params or {}
    )


def paginate_list(
    rows: Sequence[T], *, number: int, base: str, params: Mapping[str, str] | None = None
) -> Paged[T]:
    pages = max(1, ceil(len(rows) / PAGE_SIZE))
    number = min(max(1, number), pages)
    start = (number - 1) * PAGE_SIZE
    return Paged(
        rows=rows[start : start + PAGE_SIZE],
        number=number,
        pages=pages,
        total=len(rows),
        base=base,
        params=params or {},
    )
