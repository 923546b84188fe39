"""One page of the rows a statement selects: offset pagination with the total count."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import ceil
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")
PAGE_SIZE = 20


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: Sequence[T]
    number: int
    pages: int
    total: int


def page_of(
    session: Session, statement: Select[Any], *, number: int, size: int = PAGE_SIZE
) -> Page[Any]:
    """Page ``number`` (clamped to the pages there are) of the statement's rows."""
    total = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    pages = max(1, ceil((total or 0) / size))
    number = min(max(1, number), pages)
    rows = list(session.scalars(statement.limit(size).offset((number - 1) * size)))
    return Page(rows=rows, number=number, pages=pages, total=total or 0)


def page_of_list(rows: Sequence[T], *, number: int, size: int = PAGE_SIZE) -> Page[T]:
    """The same for rows already loaded."""
    pages = max(1, ceil(len(rows) / size))
    number = min(max(1, number), pages)
    start = (number - 1) * size
    return Page(rows=rows[start : start + size], number=number, pages=pages, total=len(rows))
