"""What analytics answers through the API beside its tables (which are rows of plain
values, analytics/reports.py): the requests behind a number."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class RequestBehindOut(BaseModel):
    """One request behind a number, read from :class:`analytics.drill.RequestBehind`."""

    model_config = ConfigDict(from_attributes=True)

    request_id: int
    offering: str
    status: str
    submitted_at: datetime
    at: datetime | None
