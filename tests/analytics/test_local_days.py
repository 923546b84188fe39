"""Local days: throughput, aging and the cumulative flow count the days of the
organisation's reporting time zone, or of the team's own, never silently UTC days.

The Help desk log's naive timestamps are read as Rome's wall clock, so the days a
person in Rome sees are the dates written in the file: plain Python over the CSV."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from servicebay.analytics import reports, rollup
from servicebay.catalog.models import Offering
from servicebay.core.identity import Team
from servicebay.core.settings import get_settings
from servicebay.portal.cli import main
from tests.analytics.test_history_import import (
    HELPDESK,
    _cases_from_csv,
    _helpdesk_offering,
    _import,
)
from tests.factories import make_user

# A stretch of the log with work open at its end: autumn 2010, across the clock change.
FIRST = date(2010, 10, 1)
LAST = date(2010, 11, 15)


@pytest.fixture
def rome_by_default(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SERVICEBAY_REPORTING_TIMEZONE", "Europe/Rome")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _wall_clock_cases() -> dict[str, list[datetime]]:
    """Each case's moments as written in the file (Rome's wall clock), without a zone."""
    return {
        case: [moment.replace(tzinfo=None) for moment in moments]
        for case, moments in _cases_from_csv().items()
    }


def _expected_local(cases: dict[str, list[datetime]]) -> dict[str, object]:
    days = [FIRST + timedelta(days=n) for n in range((LAST - FIRST).days + 1)]
    done = Counter(m[-1].date() for m in cases.values())
    arrived = Counter(m[0].date() for m in cases.values())
    open_at_end = [
        (LAST - m[0].date()).days + 1
        for m in cases.values()
        if m[0].date() <= LAST and m[-1].date() > LAST
    ]
    return {
        "throughput": [(day.isoformat(), done.get(day, 0)) for day in days],
        "arrived": [sum(n for d, n in arrived.items() if d <= day) for day in days],
        "completed": [sum(n for d, n in done.items() if d <= day) for day in days],
        "ages": sorted(open_at_end, reverse=True),
    }


def _tables(db: Session, team_slug: str | None) -> dict[str, list[object]]:
    viewer = make_user(db, analyst=True)
    context = reports.context_for(
        db, viewer=viewer, team_slug=team_slug, first_day=FIRST, last_day=LAST
    )
    throughput = reports.throughput_table(context).rows
    flow = reports.cumulative_flow_table(context).rows
    aging = reports.aging_table(context).rows
    return {
        "throughput": [(row["day"], row["completed"]) for row in throughput],
        "arrived": [row["arrived"] for row in flow],
        "completed": [row["completed"] for row in flow],
        "ages": sorted((row["age_days"] for row in aging), reverse=True),
    }


def _import_in_rome(db: Session, database_url: str) -> str:
    slug = _helpdesk_offering(db)
    result = _import(database_url, HELPDESK, slug, "--timezone", "Europe/Rome")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    db.rollback()
    return slug


def test_the_organisations_zone_counts_the_helpdesk_log_on_romes_days(
    db: Session, database_url: str, rome_by_default: None
) -> None:
    _import_in_rome(db, database_url)
    expected = _expected_local(_wall_clock_cases())

    found = _tables(db, team_slug=None)

    assert found == expected
    # Rome's days are not UTC's here: a completion just after local midnight is
    # counted on its local day, not the evening before.
    late = [
        m[-1]
        for m in _wall_clock_cases().values()
        if FIRST <= m[-1].date() <= LAST and m[-1].hour < 2
    ]
    assert late, "the stretch holds completions between local midnight and 02:00"


def test_a_teams_own_zone_overrides_the_organisations_utc(db: Session, database_url: str) -> None:
    slug = _import_in_rome(db, database_url)
    owner = db.scalars(
        select(Team).join(Offering, Offering.owner_team_id == Team.id).where(Offering.slug == slug)
    ).one()
    team_slug = owner.slug
    expected = _expected_local(_wall_clock_cases())

    in_utc = _tables(db, team_slug=team_slug)
    db.commit()
    env = {"SERVICEBAY_DATABASE_URL": database_url}
    runner = CliRunner()
    unknown = runner.invoke(main, ["teams", "set-timezone", team_slug, "Mars/Olympus"], env=env)
    assert unknown.exit_code != 0
    assert "no time zone 'Mars/Olympus'" in unknown.output
    rome = runner.invoke(main, ["teams", "set-timezone", team_slug, "Europe/Rome"], env=env)
    assert rome.exit_code == 0, rome.output
    assert f"team {team_slug} counts the days of Europe/Rome" in rome.output
    db.rollback()
    in_rome = _tables(db, team_slug=team_slug)

    assert in_rome == expected
    assert in_utc["throughput"] != expected["throughput"]


def test_in_utc_the_days_are_utc_days_as_before(db: Session, database_url: str) -> None:
    _import_in_rome(db, database_url)
    utc_cases = {
        case: [(m - _rome_offset(m)).replace(tzinfo=UTC) for m in moments]
        for case, moments in _wall_clock_cases().items()
    }
    done = Counter(m[-1].date() for m in utc_cases.values())
    days = [FIRST + timedelta(days=n) for n in range((LAST - FIRST).days + 1)]

    found = _tables(db, team_slug=None)

    assert found["throughput"] == [(day.isoformat(), done.get(day, 0)) for day in days]


def _rome_offset(moment: datetime) -> timedelta:
    from zoneinfo import ZoneInfo

    offset = moment.replace(tzinfo=ZoneInfo("Europe/Rome")).utcoffset()
    assert offset is not None
    return offset


def _adoption_in(db: Session, first: date, last: date) -> tuple[int, int, int]:
    viewer = make_user(db, analyst=True)
    context = reports.context_for(db, viewer=viewer, first_day=first, last_day=last)
    (row,) = reports.adoption_table(context).rows
    return row["submitted"], row["completed"], row["previous_submitted"]


@pytest.mark.parametrize("folded", [False, True], ids=["from the log", "from the roll-up"])
def test_adoption_counts_the_helpdesk_log_on_romes_days(
    db: Session, database_url: str, rome_by_default: None, folded: bool
) -> None:
    _import_in_rome(db, database_url)
    if folded:  # the worker has folded every event into the daily roll-up
        rollup.refresh(db)
        db.commit()
    cases = _wall_clock_cases()
    arrived = Counter(m[0].date() for m in cases.values())
    done = Counter(m[-1].date() for m in cases.values())

    def between(counter: Counter[date], first: date, last: date) -> int:
        return sum(n for day, n in counter.items() if first <= day <= last)

    before_first = FIRST - timedelta(days=(LAST - FIRST).days + 1)
    assert _adoption_in(db, FIRST, LAST) == (
        between(arrived, FIRST, LAST),
        between(done, FIRST, LAST),
        between(arrived, before_first, FIRST - timedelta(days=1)),
    )
    # One local day, shorter than any UTC day it overlaps, and the clock-change day.
    for day in (date(2010, 10, 12), date(2010, 10, 31)):
        submitted, completed, _ = _adoption_in(db, day, day)
        assert (submitted, completed) == (arrived[day], done[day])
    # The days differ from UTC's in this stretch, so the test tells them apart.
    utc_arrived = Counter((m[0] - _rome_offset(m[0])).date() for m in cases.values())
    assert any(utc_arrived[day] != arrived[day] for day in arrived)
