"""Yes-or-no questions a page asks about its reader, answered by Python when it can and
by the database otherwise, so that several can share one query."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, exists, select
from sqlalchemy.orm import Session

Question = bool | ColumnElement[bool]
"""Either the answer already (the reader's roles decided it) or the condition to ask."""


def any_row(statement: Select[Any]) -> ColumnElement[bool]:
    """Whether ``statement`` finds any row, as a condition to ask."""
    return exists(statement)


def answer(session: Session, question: Question) -> bool:
    """One question's answer; a condition costs one query."""
    if isinstance(question, bool):
        return question
    return bool(session.scalar(select(question)))


def answers(session: Session, *parts: Question | ColumnElement[int]) -> list[bool | int]:
    """Every part's answer in one query (none when Python knew them all): the questions
    in their order, counts as numbers."""
    asked = [part for part in parts if not isinstance(part, bool)]
    row = session.execute(select(*asked)).one() if asked else ()
    found = iter(row)
    return [part if isinstance(part, bool) else next(found) for part in parts]
