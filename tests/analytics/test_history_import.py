"""History import: the help desk's event log becomes completed requests whose flow
metrics equal the same metrics computed with plain Python over the CSV."""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from servicebay.analytics import flow
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


def _nearest_rank(values: list[float], percent: int) -> float:
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
        "lead_days": {p: _nearest_rank(lead_days, p) for p in (50, 70, 85, 95)},
        "lead_hours": {p: _nearest_rank(lead_hours, p) for p in (50, 70, 85, 95)},
        "cycle_days": {p: _nearest_rank(cycle_days, p) for p in (50, 70, 85, 95)},
        "cycle_hours": {p: _nearest_rank(cycle_hours, p) for p in (50, 70, 85, 95)},
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
    assert db.scalar(imported_events) == 13710

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
