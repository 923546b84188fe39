"""History import: an event log from a previous ticket tool becomes completed requests.

Each case of the log becomes one completed request of the given offering, and each row
of the case one Event on it, back-dated to the row's timestamp:

* the case's first row is the submission (``request.submitted``);
* its second row, when the case has more than two, is the start of fulfilment
  (``request.in_fulfilment``): the first thing the team did after the ticket was opened;
* its last row is the completion (``request.completed``);
* rows in between are ``request.activity`` events that keep the old tool's activity name;
* a case of a single row is submitted and completed at that moment (two Events).

So analytics see imported history exactly as they see the catalog's own requests. Every
imported case is remembered by (offering, case key): importing the same file again
creates nothing twice.

This is the one place outside the request lifecycle that writes requests and their
Events directly: an import tool, run from the command line.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from servicebay.catalog.models import Offering, OfferingVersion
from servicebay.core import clock, events, identity
from servicebay.core.errors import Invalid
from servicebay.core.identity import User
from servicebay.requests.models import ImportedCase, Request, RequestStatus

IMPORT_USERNAME = "imported-history"
BATCH = 500
CASE_KEY_LENGTH = 200  # requests_imported_case.case_key
# PostgreSQL advisory lock keys: imports into one offering take turns (IMPORT_LOCK, offering
# id); the analytics roll-up waits for running imports (ROLLUP_LOCK, see hold_off_rollup).
IMPORT_LOCK = 0x5E4B
ROLLUP_LOCK = 0x5E4B_0001


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
    duplicates: int = 0  # rows of the file that repeated one of these exactly


@dataclass(frozen=True)
class LogSummary:
    cases: int
    events: int
    first_at: datetime | None
    last_at: datetime | None
    duplicates: int = 0


@dataclass(frozen=True)
class ImportResult:
    created: int
    skipped: int


def read_event_log(
    path: Path,
    *,
    case_column: str,
    activity_column: str,
    timestamp_column: str,
    drop_duplicates: bool = False,
    timezone: tzinfo = UTC,
) -> list[Case]:
    """The cases of a CSV event log, each with its rows in time order.

    A row that repeats an earlier one exactly (same case, activity and moment) is counted
    in its case's ``duplicates``, and left out with ``drop_duplicates``: a repeated first
    row would otherwise pass for the start of work. A timestamp without an offset is
    read in ``timezone`` (the old tool's local time; UTC unless said). A file that cannot
    be read whole raises one :class:`HistoryImportError` naming every bad input (file,
    line, column, what to do).
    """
    text = _text_of(path)
    rows: dict[str, list[LoggedEvent]] = {}
    seen: set[tuple[str, str, datetime]] = set()
    duplicates: Counter[str] = Counter()
    problems = _Problems(path.name)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        missing = {case_column, activity_column, timestamp_column} - set(reader.fieldnames or [])
        if missing:
            named = ", ".join(sorted(missing))
            raise HistoryImportError(f"{path.name} has no column(s) {named}")
        for row in reader:
            line = reader.line_num
            columns = (case_column, activity_column, timestamp_column)
            short = [column for column in columns if row.get(column) is None]
            if short:
                problems.add(line, short[0], "missing: the row ends before this column")
                continue
            values = {column: str(row[column]).strip() for column in columns}
            key, activity = values[case_column], values[activity_column]
            if not key:
                problems.add(line, case_column, "empty case id: give every row its case")
            elif len(key) > CASE_KEY_LENGTH:
                problems.add(
                    line,
                    case_column,
                    f"case id of {len(key):,} characters: at most {CASE_KEY_LENGTH}",
                )
            moment = _timestamp(
                values[timestamp_column], line, timestamp_column, problems, timezone
            )
            if moment is None or not key or len(key) > CASE_KEY_LENGTH:
                continue
            if (key, activity, moment) in seen:
                duplicates[key] += 1
                if drop_duplicates:
                    continue
            seen.add((key, activity, moment))
            rows.setdefault(key, []).append(LoggedEvent(moment, activity))
    except csv.Error as error:
        # The reader stops at the row it could not read: the one after the last it read.
        problems.add(
            reader.line_num + 1,
            None,
            f"{error}: check the file's quoting (a quoted field may run on past its row)",
        )
    problems.raise_any()
    # sorted() is stable: rows with the same timestamp keep their order in the file.
    return [
        Case(key, tuple(sorted(events, key=lambda event: event.occurred_at)), duplicates[key])
        for key, events in rows.items()
    ]


class _Problems:
    """Every bad input of one file, each said once: file, line, column, what to do."""

    SHOWN = 50

    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: list[str] = []

    def add(self, line: int, column: str | None, said: str) -> None:
        where = f"{self.file}:{line}" + (f": column {column}" if column else "")
        self.lines.append(f"{where}: {said}")

    def raise_any(self) -> None:
        if not self.lines:
            return
        shown = self.lines[: self.SHOWN]
        if len(self.lines) > self.SHOWN:
            shown.append(f"... and {len(self.lines) - self.SHOWN} more")
        shown.append("nothing imported: correct the file and run the import again")
        raise HistoryImportError("\n".join(shown), dict(enumerate(self.lines)))  # type: ignore[arg-type]


def _text_of(path: Path) -> str:
    """The file as text; UTF-8 only, so a file in another encoding is said, not garbled."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise HistoryImportError(f"cannot read {path}: {error.strerror}") from None
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise HistoryImportError(
            f"{path.name}:1: the file is UTF-16 text; save it as UTF-8 (CSV UTF-8) and "
            "run the import again"
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        raise HistoryImportError(
            f"{path.name}:{line}: character {column}: byte 0x{raw[error.start]:02X} is not "
            "UTF-8 (a Latin-1 or Windows file?); save it as UTF-8 (CSV UTF-8) and run the "
            "import again"
        ) from None


def zone_named(name: str) -> tzinfo:
    """The IANA time zone ``name`` (Europe/Rome, UTC…)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise HistoryImportError(
            f"no time zone {name!r}: name one of the IANA database, such as Europe/Rome or UTC"
        ) from None


def _timestamp(
    value: str, line: int, column: str, problems: _Problems, timezone: tzinfo
) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        problems.add(line, column, f"{value[:40]!r} is not a timestamp: use YYYY-MM-DD HH:MM:SS")
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone)
    return moment.astimezone(UTC)


def summarise(cases: Iterable[Case]) -> LogSummary:
    cases = list(cases)
    moments = [event.occurred_at for case in cases for event in case.events]
    return LogSummary(
        cases=len(cases),
        events=len(moments),
        first_at=min(moments, default=None),
        last_at=max(moments, default=None),
        duplicates=sum(case.duplicates for case in cases),
    )


def event_types(count: int) -> list[str]:
    """The Event type each row of a case of ``count`` rows becomes (module docstring)."""
    if count == 1:
        # A case of one row was opened and closed at once: its request is submitted and
        # completed at that moment, so its one row gives both events.
        return ["request.submitted", "request.completed"]
    middle = ["request.activity"] * (count - 2)
    if count > 2:
        middle[0] = "request.in_fulfilment"
    return ["request.submitted", *middle, "request.completed"]


def offering_for_import(session: Session, *, offering_slug: str) -> tuple[Offering, int]:
    """The offering imported cases become requests of, and the version they pin."""
    offering = session.scalar(select(Offering).where(Offering.slug == offering_slug))
    if offering is None:
        raise HistoryImportError(
            f"no offering {offering_slug!r}: create it first, or name an existing one"
        )
    version_id = offering.current_version_id or session.scalar(
        select(OfferingVersion.id)
        .where(OfferingVersion.offering_id == offering.id)
        .order_by(OfferingVersion.number.desc())
    )
    if version_id is None:
        raise HistoryImportError(f"offering {offering_slug!r} has no version: save one first")
    return offering, version_id


def hold_off_rollup(session: Session) -> None:
    """Keep the analytics roll-up from folding past this transaction's events.

    An import writes back-dated events for many seconds: on PostgreSQL a later event of
    another transaction may commit first with a higher id, and a roll-up that folded up
    to it would skip this import's lower ids for good. The import holds this lock
    (shared: imports run side by side) until it commits; the roll-up folds only when it
    can take it alone. SQLite's writers take turns, so they need nothing.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock_shared(ROLLUP_LOCK)))


def import_cases(
    session: Session,
    *,
    offering_slug: str,
    cases: list[Case],
    requester: User | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Create a completed request per case not imported before; report created and skipped.

    Imports into one offering take turns, so the same file imported twice at once
    creates each case once. A case imported before whose rows have changed since (an
    earlier export cut it short) is refused with the rest of the file.
    """
    offering, version_id = offering_for_import(session, offering_slug=offering_slug)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(IMPORT_LOCK, offering.id)))
    hold_off_rollup(session)
    requester = requester or _import_user(session)
    fresh = _not_imported(session, offering.id, cases)
    for start in range(0, len(fresh), BATCH):
        batch = fresh[start : start + BATCH]
        _import_batch(session, offering.id, version_id, requester.id, batch)
        if progress is not None:
            progress(len(batch))
    return ImportResult(created=len(fresh), skipped=len(cases) - len(fresh))


def preview(session: Session, *, offering_slug: str, cases: list[Case]) -> ImportResult:
    """What ``import_cases`` would do, changing nothing: it refuses the same inputs."""
    offering, _ = offering_for_import(session, offering_slug=offering_slug)
    fresh = _not_imported(session, offering.id, cases)
    return ImportResult(created=len(fresh), skipped=len(cases) - len(fresh))


def _not_imported(session: Session, offering_id: int, cases: list[Case]) -> list[Case]:
    """The cases not imported into the offering before; refused if one imported before
    has changed since."""
    imported = (
        select(ImportedCase.case_key, Request.id, Request.submitted_at, Request.closed_at)
        .join(Request, Request.id == ImportedCase.request_id)
        .where(ImportedCase.offering_id == offering_id)
    )
    known = {row[0]: row[1:] for row in session.execute(imported)}
    changed = [_changed(case, *known[case.key]) for case in cases if case.key in known]
    changed = [said for said in changed if said]
    if changed:
        shown = changed[:50] + ([f"... and {len(changed) - 50} more"] if len(changed) > 50 else [])
        raise HistoryImportError(
            "\n".join(
                [
                    *shown,
                    f"nothing imported: {len(changed)} case(s) changed since they were "
                    "imported; import the new log into another offering, or remove these "
                    "cases from the file to import the rest",
                ]
            )
        )
    return [case for case in cases if case.key not in known]


def _changed(
    case: Case, request_id: int, submitted_at: datetime, closed_at: datetime | None
) -> str:
    """What changed in a case imported before, or "" when its span is the same."""
    first, last = case.events[0].occurred_at, case.events[-1].occurred_at
    if (submitted_at, closed_at) == (first, last):
        return ""
    return (
        f"case {case.key}: imported before as request {request_id} "
        f"({_span(submitted_at, closed_at)}), the file now has {_span(first, last)}"
    )


def _span(first: datetime | None, last: datetime | None) -> str:
    return f"{first:%Y-%m-%d %H:%M:%S} to {last:%Y-%m-%d %H:%M:%S}"


def _import_user(session: Session) -> User:
    by_name = select(User).where(User.username == IMPORT_USERNAME)
    user = session.scalar(by_name)
    if user is None and session.get_bind().dialect.name == "postgresql":
        # The first imports ever, run at once, would both create it: one does, in turn.
        session.execute(select(func.pg_advisory_xact_lock(IMPORT_LOCK, 0)))
        user = session.scalar(by_name)
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
        # A case of one row gives that row twice: submitted, then completed.
        rows = case.events if len(case.events) > 1 else case.events * 2
        for logged, event_type in zip(rows, event_types(len(case.events)), strict=True):
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
