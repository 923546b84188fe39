"""`servicebay demo` gives every insights page something meaningful on first run."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from servicebay.analytics import health, reports
from servicebay.analytics.scope import period_of_days
from servicebay.catalog.models import Demand, Offering
from servicebay.core.identity import Team
from servicebay.core.settings import Settings
from servicebay.portal import demo


def test_demo_organisation_shows_every_class_of_adoption_and_full_flow(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    result = demo.load(sessions, settings, password="demo-password")
    assert result.created and {"casey", "pat", "admin"} <= set(result.passwords)
    again = demo.load(sessions, settings, password="demo-password")
    assert not again.created

    with sessions() as db:
        assert db.scalar(select(func.count()).select_from(Team)) >= 26
        offerings = list(db.scalars(select(Offering)))
        assert len(offerings) == 25
        assert {o.work_kind for o in offerings} == {"standard", "consultative"}
        period = period_of_days(None, None, default_days=60)
        verdicts = {
            found.offering_slug: found.verdict
            for found in health.offering_health(db, offerings=offerings, period=period)
        }
        assert {"adopted", "growing", "struggling", "rejected", "zero uptake"} <= set(
            verdicts.values()
        )
        assert verdicts["fax-line"] == "zero uptake"
        assert db.scalar(select(func.count()).select_from(Demand)) >= 5

        context = reports.Context(db, offerings, period, reads_searches=True)  # an analyst
        for name, build in reports.TABLES.items():
            assert build(context).rows, f"{name} is empty on the demo data"
