"""History import: the help desk's event log becomes completed requests whose flow
metrics equal the same metrics computed with plain Python over the CSV."""

from __future__ import annotations

import csv
import threading
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from servicebay.analytics import flow
from servicebay.core.database import make_engine, make_sessionmaker, transaction
from servicebay.core.events import Event
from servicebay.core.identity import Role
from servicebay.portal.cli import main
from servicebay.requests.history import HistoryImportError, import_cases, read_event_log
from servicebay.requests.models import Request
from tests.factories import make_offering, make_team, make_user


def _helpdesk_csv() -> Path:
    """../shared/data/helpdesk.csv beside the repository (or a folder above it)."""
    repository = Path(__file__).resolve().parents[2]
    for folder in [repository, *repository.parents]:
        candidate = folder / "shared" / "data" / "helpdesk.csv"
        if candidate.is_file():
            return candidate
    raise AssertionError("shared/data/helpdesk.csv not found beside the repository")


HELPDESK = _helpdesk_csv()
COLUMNS = [
    "--case-column",
    "CaseID",
    "--activity-column",
    "ActivityID",
    "--timestamp-column",
    "CompleteTimestamp",
]


# --- the independent computation: plain Python over the CSV ------------------


def _cases_from_csv() -> dict[str, list[datetime]]:
    cases: dict[str, list[datetime]] = defaultdict(list)
    with HELPDESK.open(newline="") as handle:
        for row in csv.DictReader(handle):
            moment = datetime.strptime(row["CompleteTimestamp"], "%Y-%m-%d %H:%M:%S")
            cases[row["CaseID"]].append(moment.replace(tzinfo=UTC))
    return {key: sorted(moments) for key, moments in cases.items()}


def _floor_rank(values: list[float], percent: int) -> float:
    ordered = sorted(values)
    position = (percent * len(ordered)) // 100
    return ordered[max(position, 1) - 1]


def _days(start: datetime, end: datetime) -> int:
    return (end.date() - start.date()).days + 1


def _hours(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 3600


def _start_of_work(moments: list[datetime]) -> datetime:
    # The first activity after the ticket was opened; a case of one or two rows has
    # none before its completion.
    return moments[1] if len(moments) > 2 else moments[-1]


def _expected(cases: dict[str, list[datetime]]) -> dict[str, object]:
    lead_days = [_days(m[0], m[-1]) for m in cases.values()]
    lead_hours = [_hours(m[0], m[-1]) for m in cases.values()]
    cycle_days = [_days(_start_of_work(m), m[-1]) for m in cases.values()]
    cycle_hours = [_hours(_start_of_work(m), m[-1]) for m in cases.values()]
    first = min(m[0] for m in cases.values()).date()
    last = max(m[-1] for m in cases.values()).date()
    done_per_day = Counter(m[-1].date() for m in cases.values())
    every_day = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return {
        "lead_days": {p: _floor_rank(lead_days, p) for p in (50, 70, 85, 95)},
        "lead_hours": {p: _floor_rank(lead_hours, p) for p in (50, 70, 85, 95)},
        "cycle_days": {p: _floor_rank(cycle_days, p) for p in (50, 70, 85, 95)},
        "cycle_hours": {p: _floor_rank(cycle_hours, p) for p in (50, 70, 85, 95)},
        "throughput": [(day, done_per_day.get(day, 0)) for day in every_day],
        "queue_hours": sum(_hours(m[0], _start_of_work(m)) for m in cases.values()),
        "fulfilment_hours": sum(_hours(_start_of_work(m), m[-1]) for m in cases.values()),
        "first": first,
        "last": last,
    }


def _weekly(per_day: list[tuple[date, int]]) -> list[tuple[str, int]]:
    weeks: dict[str, int] = {}
    for day, count in per_day:
        year, week, _ = day.isocalendar()
        weeks[f"{year}-W{week:02d}"] = weeks.get(f"{year}-W{week:02d}", 0) + count
    return list(weeks.items())


# --- the tests ---------------------------------------------------------------


def _helpdesk_offering(db: Session) -> str:
    team = make_team(db)
    lead = make_user(db, team=team, role=Role.LEAD)
    offering = make_offering(db, team, lead, slug="helpdesk-ticket", name="Help desk ticket")
    db.commit()
    return offering.slug


def test_helpdesk_log_imports_as_3804_requests_with_flow_metrics_equal_to_plain_python(
    db: Session, database_url: str
) -> None:
    slug = _helpdesk_offering(db)
    runner = CliRunner()
    env = {"SERVICEBAY_DATABASE_URL": database_url}

    dry = runner.invoke(
        main,
        ["history", "import", str(HELPDESK), *COLUMNS, "--offering", slug, "--dry-run"],
        env=env,
    )
    assert dry.exit_code == 0, dry.output
    assert "3804 cases, 13710 events, 2010-01-13 17:40 to 2012-11-06 01:41 UTC" in dry.output
    assert db.scalar(select(func.count()).select_from(Request)) == 0
    db.rollback()

    first = runner.invoke(
        main, ["history", "import", str(HELPDESK), *COLUMNS, "--offering", slug], env=env
    )
    assert first.exit_code == 0, first.output
    assert "3804 requests created, 0 already imported" in first.output
    again = runner.invoke(
        main, ["history", "import", str(HELPDESK), *COLUMNS, "--offering", slug], env=env
    )
    assert again.exit_code == 0, again.output
    assert "0 requests created, 3804 already imported" in again.output

    db.rollback()
    assert db.scalar(select(func.count()).select_from(Request)) == 3804
    imported_events = select(func.count()).select_from(Event).where(Event.request_id.is_not(None))
    # Every row an Event, and the one case of a single row both submitted and completed.
    assert db.scalar(imported_events) == 13710 + 1
    submitted = select(func.count()).select_from(Event).where(Event.type == "request.submitted")
    assert db.scalar(submitted) == 3804

    expected = _expected(_cases_from_csv())
    scope = flow.Scope(
        since=datetime.combine(expected["first"], datetime.min.time(), UTC),  # type: ignore[arg-type]
        until=datetime.combine(expected["last"], datetime.min.time(), UTC) + timedelta(days=1),  # type: ignore[arg-type]
    )
    flows = flow.load(db, scope)
    summary = flow.summary(flows, scope)
    assert summary.completed == 3804
    assert summary.lead_days == expected["lead_days"]
    assert summary.cycle_days == expected["cycle_days"]
    assert summary.lead_hours == pytest.approx(expected["lead_hours"])
    assert summary.cycle_hours == pytest.approx(expected["cycle_hours"])
    assert flow.throughput_per_day(flows, scope) == expected["throughput"]
    assert flow.throughput_per_week(flows, scope) == _weekly(expected["throughput"])  # type: ignore[arg-type]
    assert summary.stage_hours["queue"] == pytest.approx(expected["queue_hours"])
    assert summary.stage_hours["fulfilment"] == pytest.approx(expected["fulfilment_hours"])
    assert summary.wip == 0
    # The help desk's people handled every ticket: none of it was automated.
    assert summary.automation_rate == 0


def test_import_into_an_unknown_offering_is_refused(db: Session) -> None:
    cases = read_event_log(
        HELPDESK,
        case_column="CaseID",
        activity_column="ActivityID",
        timestamp_column="CompleteTimestamp",
    )
    with pytest.raises(HistoryImportError, match="no offering 'nope'"):
        import_cases(db, offering_slug="nope", cases=cases[:3])


def test_a_log_without_the_named_columns_is_refused(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    log.write_text("ticket,step,at\n1,open,2024-01-01 10:00:00\n")
    result = CliRunner().invoke(
        main, ["history", "import", str(log), *COLUMNS, "--offering", "x", "--dry-run"]
    )
    assert result.exit_code != 0
    assert "has no column(s) ActivityID, CaseID, CompleteTimestamp" in result.output


# --- what the importer says instead of changing things silently ------------------


def _import(database_url: str, log: Path, slug: str, *extra: str) -> object:
    return CliRunner().invoke(
        main,
        ["history", "import", str(log), *COLUMNS, "--offering", slug, *extra],
        env={"SERVICEBAY_DATABASE_URL": database_url},
    )


def _log(tmp_path: Path, *rows: str, name: str = "log.csv") -> Path:
    log = tmp_path / name
    log.write_text("CaseID,ActivityID,CompleteTimestamp\n" + "".join(f"{row}\n" for row in rows))
    return log


def _count(db: Session, model: type) -> int:
    db.rollback()
    return db.scalar(select(func.count()).select_from(model)) or 0


def test_a_case_of_one_row_is_submitted_as_well_as_completed(
    db: Session, database_url: str, tmp_path: Path
) -> None:
    slug = _helpdesk_offering(db)
    log = _log(
        tmp_path,
        "1,1,2024-01-08 09:00:00",
        "2,1,2024-01-08 10:00:00",
        "2,9,2024-01-09 10:00:00",
    )

    result = _import(database_url, log, slug)

    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    db.rollback()
    kinds = Counter(db.scalars(select(Event.type).where(Event.request_id.is_not(None))))
    assert kinds == {"request.submitted": 2, "request.completed": 2}


def test_rows_repeated_in_the_file_are_said_and_can_be_read_once(
    db: Session, database_url: str, tmp_path: Path
) -> None:
    slug = _helpdesk_offering(db)
    rows = ["7,1,2024-01-08 09:00:00", "7,2,2024-01-11 09:00:00", "7,9,2024-01-12 09:00:00"]
    log = _log(tmp_path, *rows, *rows)

    dry = _import(database_url, log, slug, "--dry-run")
    result = _import(database_url, log, slug, "--drop-duplicates")

    assert "3 rows repeat an earlier row exactly" in dry.output  # type: ignore[attr-defined]
    assert "--drop-duplicates reads each once" in dry.output  # type: ignore[attr-defined]
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "3 rows repeated an earlier row exactly: read once" in result.output  # type: ignore[attr-defined]
    db.rollback()
    scope = flow.Scope(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC))
    summary = flow.summary(flow.load(db, scope), scope)
    assert summary.cycle_days[50] == 2  # from the first activity, not from the submission
    assert summary.lead_days[50] == 5


def test_a_dry_run_into_an_unknown_offering_is_refused(database_url: str) -> None:
    result = _import(database_url, HELPDESK, "nope", "--dry-run")

    assert result.exit_code != 0  # type: ignore[attr-defined]
    assert "no offering 'nope'" in result.output  # type: ignore[attr-defined]


def test_a_case_that_changed_since_it_was_imported_is_refused_and_nothing_imported(
    db: Session, database_url: str, tmp_path: Path
) -> None:
    slug = _helpdesk_offering(db)
    early = _log(tmp_path, "5,1,2024-01-08 09:00:00", "5,2,2024-01-09 09:00:00", name="a.csv")
    assert _import(database_url, early, slug).exit_code == 0  # type: ignore[attr-defined]
    later = _log(
        tmp_path,
        "5,1,2024-01-08 09:00:00",
        "5,2,2024-01-09 09:00:00",
        "5,9,2024-01-15 09:00:00",
        "6,1,2024-01-10 09:00:00",
        name="b.csv",
    )

    result = _import(database_url, later, slug)

    assert result.exit_code != 0  # type: ignore[attr-defined]
    assert "case 5: imported before as request" in result.output  # type: ignore[attr-defined]
    assert "2024-01-15 09:00:00" in result.output  # type: ignore[attr-defined]
    assert _count(db, Request) == 1


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (
            "CaseID,ActivityID,CompleteTimestamp\n1,Übergabe,2024-01-08 09:00:00\n".encode(
                "latin-1"
            ),
            "log.csv:2: character 3: byte 0xDC is not UTF-8",
        ),
        (
            "CaseID,ActivityID,CompleteTimestamp\n1,1,2024-01-08 09:00:00\n".encode("utf-16"),
            "log.csv:1: the file is UTF-16 text; save it as UTF-8",
        ),
        (
            b"CaseID,ActivityID,CompleteTimestamp\n1,1,2024-01-08 09:00:00\n2,"
            + b"x" * 131_073
            + b",2024-01-08 09:00:00\n",
            "log.csv:3: field larger than field limit (131072)",
        ),
        (
            b"CaseID,ActivityID,CompleteTimestamp\n1,1,2024-01-08 09:00:00\n2,1\n",
            "log.csv:3: column CompleteTimestamp: missing",
        ),
        (
            b"CaseID,ActivityID,CompleteTimestamp\n" + b"9" * 201 + b",1,2024-01-08 09:00:00\n",
            "log.csv:2: column CaseID: case id of 201 characters: at most 200",
        ),
    ],
    ids=["latin-1", "utf-16", "long-field", "missing-field", "long-case-id"],
)
def test_a_bad_input_is_one_line_naming_where_and_nothing_is_imported(
    db: Session, database_url: str, tmp_path: Path, content: bytes, said: str
) -> None:
    slug = _helpdesk_offering(db)
    log = tmp_path / "log.csv"
    log.write_bytes(content)

    result = _import(database_url, log, slug)

    assert result.exit_code == 1, result.output  # type: ignore[attr-defined]
    assert said in result.output  # type: ignore[attr-defined]
    assert "Traceback" not in result.output  # type: ignore[attr-defined]
    assert _count(db, Request) == 0


def test_the_same_file_imported_twice_at_once_creates_each_case_once(
    db: Session, database_url: str, tmp_path: Path
) -> None:
    slug = _helpdesk_offering(db)
    log = _log(tmp_path, *(f"{n},1,2024-01-08 09:00:00" for n in range(1, 1201)))
    cases = read_event_log(
        log,
        case_column="CaseID",
        activity_column="ActivityID",
        timestamp_column="CompleteTimestamp",
    )
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    results: list[object] = []

    def run() -> None:
        try:
            with transaction(sessions) as session:
                results.append(import_cases(session, offering_slug=slug, cases=cases))
        except Exception as error:
            results.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine.dispose()

    assert sorted((r.created, r.skipped) for r in results) == [(0, 1200), (1200, 0)]  # type: ignore[attr-defined]
    assert _count(db, Request) == 1200


def test_naive_timestamps_are_read_in_the_time_zone_given(db: Session, database_url: str) -> None:
    _helpdesk_offering(db)
    rome = _import(
        database_url, HELPDESK, "helpdesk-ticket", "--timezone", "Europe/Rome", "--dry-run"
    )
    unknown = _import(database_url, HELPDESK, "helpdesk-ticket", "--timezone", "Mars/Olympus")

    # 17:40 in Rome in January is 16:40 UTC; 01:41 on 6 November (CET) is 00:41 UTC.
    assert "2010-01-13 16:40 to 2012-11-06 00:41 UTC" in rome.output  # type: ignore[attr-defined]
    assert unknown.exit_code != 0  # type: ignore[attr-defined]
    assert "no time zone 'Mars/Olympus'" in unknown.output  # type: ignore[attr-defined]
