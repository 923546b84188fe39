"""Query parameter types that accept exactly what the OpenAPI document says they take.

Pydantic's lax parsing reads ``0`` or ``1700000000`` as a moment (seconds since 1970);
the document promises a ``date-time`` or a ``date`` written out, so a number is refused.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated

from pydantic import BeforeValidator

DATE = r"\d{4}-\d{2}-\d{2}"
# RFC 3339, except that a time without a zone is taken as UTC (as the audit trail says).
DATE_TIME = re.compile(DATE + r"[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})?")


def _written_as(pattern: re.Pattern[str], example: str) -> BeforeValidator:
    def check(value: object) -> object:
        if isinstance(value, str) and not pattern.fullmatch(value):
            raise ValueError(f"write it as {example}")
        return value

    return BeforeValidator(check)


IsoDateTime = Annotated[datetime, _written_as(DATE_TIME, "2026-01-31T09:00:00Z")]
IsoDate = Annotated[date, _written_as(re.compile(DATE), "2026-01-31")]
