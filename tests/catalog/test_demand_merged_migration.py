"""Demands merged before merging had its own state become merged into the demand their
merge named, and go back to declined when the migration is undone."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from servicebay.core import migrations
from servicebay.core.database import make_engine

BEFORE = "5b1f0c2d7e94"  # the revision before demands could be merged into another


def test_an_earlier_merge_becomes_merged_into_its_target_and_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrations.upgrade(url, BEFORE)
    engine = make_engine(url)
    now = "2026-01-01 10:00:00"
    demand = (
        "INSERT INTO catalog_demand (id, title, description, urgency, state, decline_reason, "
        "votes, author_id, created_at, updated_at) VALUES ({}, '{}', '', 'normal', '{}', '{}', "
        f"1, 1, '{now}', '{now}')"
    )
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO core_user (id, username, email, display_name, is_admin, is_analyst, "
            f"is_active, created_at) VALUES (1, 'ari', 'a@x.org', 'Ari', 0, 0, 1, '{now}')"
        )
        connection.exec_driver_sql(demand.format(1, "Kafka topics on request", "new", ""))
        connection.exec_driver_sql(
            demand.format(2, "Kafka please", "declined", "Merged into #1 “Kafka topics”")
        )
        connection.exec_driver_sql(demand.format(3, "Fax machines", "declined", "No faxes"))
        connection.exec_driver_sql(
            "INSERT INTO core_event (occurred_at, type, actor_id, data) VALUES "
            f"('{now}', 'demand.merged', 1, "
            '\'{"demand": 2, "into": 1, "from": "new", "votes_moved": 1}\')'
        )
    engine.dispose()

    def states() -> list[tuple[int, str, str, int | None]]:
        engine = make_engine(url)
        try:
            with engine.connect() as connection:
                rows = connection.exec_driver_sql(
                    "SELECT id, state, decline_reason, merged_into_id FROM catalog_demand "
                    "ORDER BY id"
                    if migrations.is_current(engine)
                    else "SELECT id, state, decline_reason, NULL FROM catalog_demand ORDER BY id"
                )
                return [tuple(row) for row in rows]  # type: ignore[misc]
        finally:
            engine.dispose()

    migrations.upgrade(url)
    assert states() == [
        (1, "new", "", None),
        (2, "merged", "", 1),
        (3, "declined", "No faxes", None),
    ]

    command.downgrade(migrations.alembic_config(url), BEFORE)
    assert states() == [
        (1, "new", "", None),
        (2, "declined", "Merged into #1", None),
        (3, "declined", "No faxes", None),
    ]
