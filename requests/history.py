"""History import: an event log from a previous ticket tool becomes completed requests.

Each case of the log becomes one completed request of the given offering, and each row
of the case one Event on it, back-dated to the row's timestamp:

* the case's first row is the submission (``request.submitted``);
* its second row, when the case has more than two, is the start of fulfilment
  (``request.in_fulfilment``): the first thing the team did after the ticket was opened;
* its last row is the completion (``request.completed``);
* rows in between are ``request.activity`` events that keep the old tool's activity name;
* a case of a single row is submitted and completed at that moment.

So analytics see imported history exactly as they see the catalog's own requests. Every
imported case is remembered by (offering, case key): importing the same file again
creates nothing twice.

This is the one place outside the request lifecycle that writes requests and their
Events directly: an import tool, run from the command line.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from servicebay.catalog.models import Offering, OfferingVersion
from servicebay.core import clock, events, identity
from servicebay.core.errors import Invalid
from servicebay.core.identity import User
from servicebay.requests.models import ImportedCase, Request, RequestStatus

IMPORT_USERNAME = "imported-history"
BATCH = 500


class HistoryImportError(Invalid):
    """The event log cannot be read or imported; the message says why."""


@dataclass(frozen=True)
class LoggedEvent:
    occurred_at: datetime
    activity: str


@dataclass(frozen=True)
class Case:
    key: str
    events: tuple[LoggedEvent, ...]


@dataclass(frozen=True)
class LogSummary:
    cases: int
    events: int
    first_at: datetime | None
    last_at: datetime | None


@dataclass(frozen=True)
class ImportResult:
    created: int
    skipped: int


def read_event_log(
    path: Path, *, case_column: str, activity_column: str, timestamp_column: str
) -> list[Case]:
    """The cases of a CSV event log, each with its rows in time order."""
    rows: dict[str, list[LoggedEvent]] = {}
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = {case_column, activity_column, timestamp_column} - set(
                reader.fieldnames or []
            )
            if missing:
                named = ", ".join(sorted(missing))
                raise HistoryImportError(f"{path.name} has no column(s) {named}")
            for line, row in enumerate(reader, start=2):
                key = (row[case_column] or "").strip()
                if not key:
                    raise HistoryImportError(f"line {line}: empty case")
                moment = _timestamp(row[timestamp_column], line)
                rows.setdefault(key, []).append(LoggedEvent(moment, row[activity_column].strip()))
    except OSError as error:
        raise HistoryImportError(f"cannot read {path}: {error.strerror}") from None
    # sorted() is stable: rows with the same timestamp keep their order in the file.
    return [
        Case(key, tuple(sorted(events, key=lambda event: event.occurred_at)))
        for key, events in rows.items()
    ]


def _timestamp(value: str, line: int) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise HistoryImportError(f"line {line}: {value!r} is not a timestamp") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def summarise(cases: Iterable[Case]) -> LogSummary:
    cases = list(cases)
    moments = [event.occurred_at for case in cases for event in case.events]
    return LogSummary(
        cases=len(cases),
        events=len(moments),
        first_at=min(moments, default=None),
        last_at=max(moments, default=None),
    )


def event_types(count: int) -> list[str]:
    """The Event type each row of a case of ``count`` rows becomes (module docstring)."""
    if count == 1:
        # A case of one row was opened and closed at once: its request is submitted and
        # completed at that moment, and its one row is the completion.
        return ["request.completed"]
    middle = ["request.activity"] * (count - 2)
    if count > 2:
        middle[0] = "request.in_fulfilment"
    return ["request.submitted", *middle, "request.completed"]


def import_cases(
    session: Session,
    *,
    offering_slug: str,
    cases: list[Case],
    requester: User | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Create a completed request per case not imported before; report created and skipped."""
    offering_id, version_id = _target(session, offering_slug)
    requester = requester or _import_user(session)
    fresh = _not_imported(session, offering_id, cases)
    for start in range(0, len(fresh), BATCH):
        batch = fresh[start : start + BATCH]
        _import_batch(session, offering_id, version_id, requester.id, batch)
        if progress is not None:
            progress(len(batch))
    return ImportResult(created=len(fresh), skipped=len(cases) - len(fresh))


def preview(session: Session, *, offering_slug: str, cases: list[Case]) -> ImportResult:
    """What ``import_cases`` would do, changing nothing: it refuses the same offerings."""
    offering_id, _ = _target(session, offering_slug)
    fresh = _not_imported(session, offering_id, cases)
    return ImportResult(created=len(fresh), skipped=len(cases) - len(fresh))


def _target(session: Session, offering_slug: str) -> tuple[int, int]:
    """The offering imported into and the version its requests pin (the current one, or
    the newest of a draft)."""
    offering = session.scalar(select(Offering).where(Offering.slug == offering_slug))
    if offering is None:
        raise HistoryImportError(f"no offering {offering_slug!r}")
    version_id = offering.current_version_id or session.scalar(
        select(OfferingVersion.id)
        .where(OfferingVersion.offering_id == offering.id)
        .order_by(OfferingVersion.number.desc())
    )
    if version_id is None:
        raise HistoryImportError(f"offering {offering_slug!r} has no version")
    return offering.id, version_id


def _not_imported(session: Session, offering_id: int, cases: list[Case]) -> list[Case]:
    imported = select(ImportedCase.case_key).where(ImportedCase.offering_id == offering_id)
    known = set(session.scalars(imported))
    return [case for case in cases if case.key not in known]


def _import_user(session: Session) -> User:
    user = session.scalar(select(User).where(User.username == IMPORT_USERNAME))
    if user is None:
        user = identity.create_user(
            session, username=IMPORT_USERNAME, password=None, display_name="Imported history"
        )
    return user


def insert_requests(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Insert requests as they already stood (imported or sample history, back-dated),
    bypassing the lifecycle; their ids in the order of ``rows``."""
    if not rows:
        return []
    statement = insert(Request).returning(Request.id, sort_by_parameter_order=True)
    return list(session.scalars(statement, rows))


def _import_batch(
    session: Session, offering_id: int, version_id: int, requester_id: int, batch: list[Case]
) -> None:
    now = clock.now()
    request_ids = insert_requests(
        session,
        [
            {
                "offering_id": offering_id,
                "offering_version_id": version_id,
                "requester_id": requester_id,
                "team_id": None,
                "inputs": {},
                "outputs": {},
                "status": RequestStatus.COMPLETED.value,
                "submitted_at": case.events[0].occurred_at,
                "updated_at": case.events[-1].occurred_at,
                "closed_at": case.events[-1].occurred_at,
            }
            for case in batch
        ],
    )
    event_rows = []
    for case, request_id in zip(batch, request_ids, strict=True):
        previous = None
        for logged, event_type in zip(case.events, event_types(len(case.events)), strict=True):
            data: dict[str, str] = {"activity": logged.activity, "case": case.key}
            if event_type != "request.activity" and event_type != "request.submitted":
                data["from"] = previous or "submitted"
            event_rows.append(
                {
                    "occurred_at": logged.occurred_at,
                    "type": event_type,
                    "actor_id": None,
                    "offering_id": offering_id,
                    "request_id": request_id,
                    "data": data,
                }
            )
            if event_type != "request.activity":
                previous = event_type.removeprefix("request.")
    events.record_many(session, event_rows)
    session.execute(
        insert(ImportedCase),
        [
            {
                "offering_id": offering_id,
                "case_key": case.key,
                "request_id": request_id,
                "imported_at": now,
            }
            for case, request_id in zip(batch, request_ids, strict=True)
        ],
    )
