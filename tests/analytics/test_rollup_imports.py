"""Two history imports and insights reads at once leave the roll-up exact: what it counts
equals what a rebuild from the whole Event log counts."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from servicebay.analytics import rollup
from servicebay.core.identity import Role
from servicebay.requests.history import IMPORT_USERNAME, Case, LoggedEvent, import_cases
from tests.factories import make_offering, make_team, make_user

START = datetime(2024, 3, 4, 9, tzinfo=UTC)
FIRST, LAST = date(2024, 3, 1), date(2024, 4, 30)


def _cases(prefix: str, count: int) -> list[Case]:
    return [
        Case(
            f"{prefix}{n}",
            (
                LoggedEvent(START + timedelta(hours=n % 500), "1"),
                LoggedEvent(START + timedelta(hours=n % 500, minutes=30), "2"),
                LoggedEvent(START + timedelta(days=2, hours=n % 500), "9"),
            ),
        )
        for n in range(count)
    ]


def _submitted(session: Session, offering_ids: list[int]) -> dict[int, int]:
    found = rollup.counts(session, offering_ids=offering_ids, first_day=FIRST, last_day=LAST)
    return {oid: found.get((oid, "request.submitted"), (0, 0))[0] for oid in offering_ids}


def test_two_imports_and_reads_at_once_count_what_a_rebuild_counts(
    db: Session, sessions: sessionmaker[Session]
) -> None:
    team = make_team(db)
    lead = make_user(db, team=team, role=Role.LEAD)
    first = make_offering(db, team, lead, slug="old-desk")
    second = make_offering(db, team, lead, slug="old-queue")
    make_user(db, username=IMPORT_USERNAME)  # imported before: the imports need not make it
    db.commit()
    ids = [first.id, second.id]
    paused, resume = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def slow_import() -> None:
        # Writes one batch, then waits (its events uncommitted) while the others run.
        def progress(_: int) -> None:
            if not paused.is_set():
                paused.set()
                resume.wait(timeout=60)

        _in_transaction(
            sessions,
            lambda s: import_cases(
                s, offering_slug="old-desk", cases=_cases("d", 1200), progress=progress
            ),
        )

    def quick_import() -> None:
        _in_transaction(
            sessions, lambda s: import_cases(s, offering_slug="old-queue", cases=_cases("q", 300))
        )

    def _in_transaction(factory: sessionmaker[Session], work: object) -> None:
        session = factory()
        try:
            work(session)  # type: ignore[operator]
            session.commit()
        except BaseException as error:
            session.rollback()
            failures.append(error)
        finally:
            session.close()

    slow = threading.Thread(target=slow_import)
    slow.start()
    assert paused.wait(timeout=60)
    quick = threading.Thread(target=quick_import)
    quick.start()
    quick.join(timeout=2)  # PostgreSQL: done; SQLite: waits its turn behind the slow one
    sweep = threading.Thread(target=_in_transaction, args=(sessions, rollup.refresh))
    sweep.start()
    sweep.join(timeout=2)
    read = threading.Thread(  # insights read meanwhile (SQLite: in turn)
        target=_in_transaction, args=(sessions, lambda s: _submitted(s, ids))
    )
    read.start()
    read.join(timeout=2)
    resume.set()
    for thread in (slow, quick, sweep, read):
        thread.join(timeout=120)
    _in_transaction(sessions, rollup.refresh)
    assert failures == []

    with sessions() as session:
        kept = _submitted(session, ids)
    _in_transaction(sessions, lambda s: (rollup.rebuild(s), rollup.refresh(s)))
    with sessions() as session:
        rebuilt = _submitted(session, ids)

    assert rebuilt == {first.id: 1200, second.id: 300}
    assert kept == rebuilt
