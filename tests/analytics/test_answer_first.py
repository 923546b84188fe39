"""/insights opens on the answer: a summary beside the previous period, every offering's
health verdict with the number that earned it, and an offering's versions compared."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from servicebay.analytics import adoption, health, reports, rollup, summary, versions
from servicebay.analytics.scope import Period
from servicebay.catalog import service as catalog_service
from servicebay.catalog.models import Offering
from servicebay.catalog.schemas import OfferingIn
from servicebay.core import clock, events
from servicebay.core.identity import Role, User
from tests.analytics.history import make_history
from tests.factories import (
    make_offering,
    make_team,
    make_user,
    offering_definition,
    pass_dry_run,
    sign_in,
    token_for,
)

NOW = datetime(2026, 6, 30, 12, tzinfo=UTC)
PERIOD = Period(datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC))
IN_PERIOD = datetime(2026, 6, 10, 9, tzinfo=UTC)
BEFORE = datetime(2026, 5, 10, 9, tzinfo=UTC)
METRICS = Path(__file__).parents[2] / "docs" / "metrics.md"


def _done(at: datetime, hours: int = 2) -> list[tuple[str, datetime]]:
    return [
        ("submitted", at),
        ("in_fulfilment", at + timedelta(minutes=1)),
        ("completed", at + timedelta(hours=hours)),
    ]


def _rejected(at: datetime) -> list[tuple[str, datetime]]:
    return [("submitted", at), ("rejected", at + timedelta(hours=1))]


def _form_starts(db: Session, offering: Offering, user: User, count: int) -> None:
    for n in range(count):
        events.record(
            db,
            type="offering.form_started",
            actor_id=user.id,
            offering_id=offering.id,
            at=IN_PERIOD - timedelta(days=2, minutes=n),
        )


def _catalog(db: Session) -> dict[str, Offering]:
    """Five offerings, one of each verdict, with histories a product owner can check."""
    team = make_team(db, "platform")
    lead = make_user(db, "lead", team=team, role=Role.LEAD)
    payments = make_team(db, "payments")
    casey = make_user(db, "casey", team=payments)
    dana = make_user(db, "dana", team=make_team(db, "sales"))
    made = {
        slug: make_offering(db, team, lead, slug=slug, name=name)
        for slug, name in [
            ("postgres", "PostgreSQL database"),
            ("vpn", "VPN access"),
            ("laptop", "Laptop"),
            ("firewall", "Firewall change"),
            ("fax", "Fax line"),
        ]
    }
    for offering in made.values():
        offering.created_at = BEFORE - timedelta(days=30)
    # Adopted: 2 requests before, 2 now.
    for at in (BEFORE, BEFORE + timedelta(days=1)):
        make_history(db, made["postgres"], casey, _done(at))
    for at in (IN_PERIOD, IN_PERIOD + timedelta(days=1)):
        make_history(db, made["postgres"], dana, _done(at, hours=30))
    # Growing: none before, 3 now.
    for n in range(3):
        make_history(db, made["vpn"], casey, _done(IN_PERIOD + timedelta(days=n)))
    # Struggling: 10 before, 6 now (-40 %).
    for n in range(10):
        make_history(db, made["laptop"], casey, _done(BEFORE + timedelta(days=n)))
    for n in range(6):
        make_history(db, made["laptop"], dana, _done(IN_PERIOD + timedelta(days=n)))
    # Rejected: 2 of 3 requests turned down by approval.
    make_history(db, made["firewall"], casey, _done(IN_PERIOD))
    for n in range(2):
        make_history(db, made["firewall"], dana, _rejected(IN_PERIOD + timedelta(days=n)))
    # Zero uptake: nothing since before the previous period.
    make_history(db, made["fax"], casey, _done(BEFORE - timedelta(days=20)))
    db.flush()
    return made


def _context(db: Session) -> reports.Context:
    offerings = sorted(
        db.query(Offering).all(),  # every offering of the test database
        key=lambda offering: offering.name,
    )
    return reports.Context(db, offerings, PERIOD)


def test_each_offering_gets_the_verdict_and_number_its_history_earns(db: Session) -> None:
    clock.freeze(NOW)
    _catalog(db)

    found = health.offering_health(db, offerings=_context(db).offerings, period=PERIOD)

    assert [(h.offering_name, h.verdict, h.number) for h in found] == [
        ("Firewall change", "rejected", "67 %"),
        ("Laptop", "struggling", "-40 %"),
        ("Fax line", "zero uptake", "71 days"),
        ("VPN access", "growing", "3 requests"),
        ("PostgreSQL database", "adopted", "2 requests"),
    ]
    firewall = found[0]
    assert firewall.rule == "2 of 3 requests rejected or cancelled"
    assert firewall.worst is not None
    assert (firewall.worst.label, firewall.worst.count, firewall.worst.base) == (
        "Approval rejections",
        2,
        3,
    )
    assert firewall.worst.drill == "rejected"


def test_abandoned_forms_make_an_offering_struggle_before_they_reject_it(db: Session) -> None:
    clock.freeze(NOW)
    made = _catalog(db)
    casey = db.query(User).filter_by(username="casey").one()
    # PostgreSQL: 2 of its 6 started forms were never sent (33 %: over 25 %, under 50 %).
    _form_starts(db, made["postgres"], casey, 4)
    for n in range(8):
        events.record(
            db,
            type="offering.form_started",
            actor_id=db.query(User).filter_by(username="dana").one().id,
            offering_id=made["postgres"].id,
            at=IN_PERIOD - timedelta(minutes=5 + n),
        )
    db.flush()
    rollup.refresh(db)

    [postgres] = [
        h for h in health.offering_health(db, offerings=[made["postgres"]], period=PERIOD)
    ]

    assert (postgres.verdict, postgres.number) == ("struggling", "33 %")
    assert postgres.rule == "form abandonment: 4 of 12"


def test_the_summary_shows_each_figure_beside_the_previous_period(db: Session) -> None:
    clock.freeze(NOW)
    _catalog(db)

    found = summary.summary(_context(db))

    def both(key: str) -> tuple[float | None, float | None]:
        figure = found.figure(key)
        return figure.value, figure.previous

    assert both("requests") == (14, 12)
    assert both("requesters") == (2, 1)
    assert both("teams") == (2, 1)
    # 4 of the 5 offerings had a request this period; 2 of 5 before.
    assert both("adoption_rate") == (4 / 5, 2 / 5)
    # This period's only rejection signals: the firewall's 2 approval rejections.
    assert both("rejections_organisation") == (1.0, None)
    assert both("rejections_users")[0] == 0.0
    assert both("automation_rate") == (1.0, 1.0)
    # p85 of 12 completions is the 10th fastest (1 day); PostgreSQL's two took 2 days.
    assert both("lead_p85_days") == (1, 1)


def _versioned(db: Session) -> Offering:
    team = make_team(db, "platform")
    lead = make_user(db, "lead", team=team, role=Role.LEAD)
    casey = make_user(db, "casey", team=make_team(db, "payments"))
    offering = make_offering(db, team, lead, slug="postgres", name="PostgreSQL database")
    assert offering.current_version is not None
    offering.current_version.published_at = BEFORE - timedelta(days=5)
    make_history(db, offering, casey, _rejected(BEFORE))
    make_history(db, offering, casey, _rejected(BEFORE + timedelta(days=1)))
    make_history(db, offering, casey, _done(BEFORE + timedelta(days=2), hours=50))
    definition = OfferingIn.model_validate(
        offering_definition(team, slug="postgres", name="PostgreSQL database")
    )
    catalog_service.update_offering(db, actor=lead, offering=offering, definition=definition)
    pass_dry_run(db, offering)
    catalog_service.publish(db, actor=lead, offering=offering)
    assert offering.current_version is not None
    offering.current_version.published_at = IN_PERIOD - timedelta(days=5)
    for n in range(3):
        at = IN_PERIOD + timedelta(days=n)
        steps = [*_done(at), ("request.rated", at + timedelta(hours=3))]
        make_history(db, offering, casey, steps, data={"request.rated": {"rating": 5}})
    db.flush()
    return offering


def test_versions_compared_show_whether_the_new_version_fixed_the_old(db: Session) -> None:
    clock.freeze(NOW)
    offering = _versioned(db)

    first, second = versions.compare(db, offering=offering)

    assert (first.number, first.submitted, first.turned_down, first.rejection) == (1, 3, 2, 2 / 3)
    assert (first.lead_p85_days, first.average_rating) == (3, None)
    assert (second.number, second.submitted, second.turned_down, second.rejection) == (
        2,
        3,
        0,
        0.0,
    )
    assert (second.lead_p85_days, second.average_rating, second.ratings) == (1, 5.0, 3)


def test_every_verdict_rule_is_defined_in_the_metrics_document() -> None:
    text = METRICS.read_text(encoding="utf-8")
    section = text.split("## Offering health", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| ([a-z ]+) \| (.+) \|$", section, flags=re.MULTILINE)
    assert [name for name, _ in rows if name != "verdict"] == [
        health.ZERO_UPTAKE,
        health.REJECTED,
        health.STRUGGLING,
        health.GROWING,
        health.ADOPTED,
    ]
    rules = dict(rows)
    assert f"{health.REJECTED_PERCENT} %" in rules[health.REJECTED]
    assert f"{health.MIN_FORM_STARTS} form starts" in rules[health.REJECTED]
    assert f"{health.MIN_RATINGS} ratings" in rules[health.REJECTED]
    assert f"{health.LOW_AVERAGE}" in rules[health.REJECTED]
    assert f"{health.CHANGE_PERCENT} %" in rules[health.STRUGGLING]
    assert f"{health.STRUGGLING_PERCENT} %" in rules[health.STRUGGLING]
    assert f"at least {health.MIN_STRUGGLING_BASE}" in rules[health.STRUGGLING]
    assert f"{health.CHANGE_PERCENT} %" in rules[health.GROWING]


def test_insights_opens_on_the_summary_and_offering_health(client: TestClient, db: Session) -> None:
    clock.freeze(NOW)
    _catalog(db)
    make_user(db, "ana", analyst=True)
    db.commit()
    sign_in(client, "ana")

    page = client.get("/insights?since=2026-06-01&until=2026-06-30")

    assert page.status_code == 200
    html = page.text
    assert html.index('id="summary"') < html.index('id="health"') < html.index('id="adoption"')
    assert re.search(r'data-figure="adoption_rate".*?80 %.*?before: 40 %', html, re.S)
    firewall = html.split('data-offering="firewall"', 1)[1].split("</li>", 1)[0]
    assert "Firewall change" in firewall and "Rejected" in firewall
    assert "67 %" in firewall and "2 of 3 requests rejected or cancelled" in firewall
    evidence = re.search(r'href="([^"]*/insights/requests\?[^"]*metric=rejected[^"]*)"', firewall)
    assert evidence is not None
    behind = client.get(evidence.group(1).replace("&amp;", "&"))
    assert behind.status_code == 200
    assert behind.text.count("/requests/") >= 2


def test_an_offerings_insights_compare_its_versions(client: TestClient, db: Session) -> None:
    clock.freeze(NOW)
    _versioned(db)
    make_user(db, "ana", analyst=True)
    db.commit()
    sign_in(client, "ana")

    html = client.get("/insights?offering=postgres").text

    table = html.split('data-table="versions"', 1)[1].split("</table>", 1)[0]
    v1 = table.split('data-version="1"', 1)[1].split("</tr>", 1)[0]
    v2 = table.split('data-version="2"', 1)[1].split("</tr>", 1)[0]
    assert "67 %" in v1 and "3 days" in v1
    assert "0 %" in v2 and "5.0 of 5" in v2


def test_the_api_answers_the_same_summary_health_and_versions(
    client: TestClient, db: Session
) -> None:
    clock.freeze(NOW)
    _catalog(db)
    ana = make_user(db, "ana", analyst=True)
    db.commit()
    headers = token_for(db, ana)
    db.commit()
    period = {"since": "2026-06-01", "until": "2026-06-30"}

    found = client.get("/api/v1/insights/summary", params=period, headers=headers).json()
    figures = {figure["key"]: figure for figure in found["figures"]}
    assert (figures["requests"]["value"], figures["requests"]["previous"]) == (14, 12)

    ranked = client.get("/api/v1/insights/health", params=period, headers=headers).json()
    assert [(row["offering"], row["verdict"]) for row in ranked][:2] == [
        ("firewall", "rejected"),
        ("laptop", "struggling"),
    ]
    assert ranked[0]["losses"][0] == {
        "key": "approval_rejections",
        "label": "Approval rejections",
        "count": 2,
        "base": 3,
        "share": 0.6667,
        "drill": "rejected",
    }

    compared = client.get(
        "/api/v1/insights/versions", params={"offering": "postgres"}, headers=headers
    )
    assert compared.status_code == 200
    assert [row["version"] for row in compared.json()] == [1]


def test_insights_tables_show_offering_names_and_percentages(
    client: TestClient, db: Session
) -> None:
    clock.freeze(NOW)
    _catalog(db)
    make_user(db, "ana", analyst=True)
    db.commit()
    sign_in(client, "ana")
    period = "?since=2026-06-01&until=2026-06-30"

    adoption = client.get("/insights" + period).text.split('data-table="adoption"', 1)[1]
    adoption = adoption.split("</table>", 1)[0]
    cell = '<td data-metric="offering" data-label="Offering">{}</td>'
    assert cell.format("Firewall change") in adoption
    assert cell.format("firewall") not in adoption
    # Laptop: 6 requests after 10 — a trend of -40 %, not -0.4.
    laptop = adoption.split("Laptop", 1)[1].split("</tr>", 1)[0]
    assert 'data-metric="trend" data-label="Trend">-40 %</td>' in laptop

    flow = client.get("/insights/flow" + period).text.split('data-table="flow"', 1)[1]
    assert (
        'data-metric="automation_rate" data-label="Automation rate">100 %</td>'
        in flow.split("</table>", 1)[0]
    )

    csv = client.get("/api/v1/analytics/adoption" + period + "&format=csv").text
    assert "firewall,Firewall change" in csv and ",-0.4," in csv


def test_a_team_lead_reads_only_the_health_and_versions_of_the_teams_offerings(
    client: TestClient, db: Session
) -> None:
    clock.freeze(NOW)
    _catalog(db)
    security = make_team(db, "security")
    sam = make_user(db, "sam", team=security, role=Role.LEAD)
    make_offering(db, security, sam, slug="pentest", name="Penetration test")
    db.commit()
    headers = token_for(db, sam)
    db.commit()

    ranked = client.get("/api/v1/insights/health", headers=headers).json()
    summary_of = client.get("/api/v1/insights/summary", headers=headers).json()
    other = client.get("/api/v1/insights/versions", params={"offering": "vpn"}, headers=headers)

    assert [row["offering"] for row in ranked] == ["pentest"]
    assert summary_of["offerings"] == 1
    assert other.status_code == 404


def test_form_starts_count_for_the_version_current_that_day(db: Session) -> None:
    clock.freeze(NOW)
    offering = _versioned(db)
    casey = db.query(User).filter_by(username="casey").one()
    # Under v1: 2 started forms never sent. Under v2 (from June 5): 1 started and sent.
    for at in (BEFORE + timedelta(days=3), BEFORE + timedelta(days=4)):
        events.record(
            db, type="offering.form_started", actor_id=casey.id, offering_id=offering.id, at=at
        )
    events.record(
        db,
        type="offering.form_started",
        actor_id=casey.id,
        offering_id=offering.id,
        at=IN_PERIOD - timedelta(minutes=10),
    )
    db.flush()
    rollup.refresh(db)

    first, second = versions.compare(db, offering=offering)

    assert (first.form_starts, first.abandoned, first.abandonment) == (2, 2, 1.0)
    assert (second.form_starts, second.abandoned, second.abandonment) == (1, 0, 0.0)


def test_offering_health_shows_those_needing_a_decision_first_a_page_at_a_time(
    client: TestClient, db: Session
) -> None:
    clock.freeze(NOW)
    made = _catalog(db)
    team = made["postgres"].owner_team
    lead = db.query(User).filter_by(username="lead").one()
    casey = db.query(User).filter_by(username="casey").one()
    for n in range(12):  # twelve more adopted offerings, so the list runs to a second page
        extra = make_offering(db, team, lead, slug=f"extra-{n}", name=f"Extra {n:02d}")
        extra.created_at = BEFORE - timedelta(days=30)
        make_history(db, extra, casey, _done(BEFORE))
        make_history(db, extra, casey, _done(IN_PERIOD))
    make_user(db, "ana", analyst=True)
    db.commit()
    sign_in(client, "ana")

    html = client.get("/insights?since=2026-06-01&until=2026-06-30").text

    shown = re.findall(r'class="health-item" data-offering="([^"]+)"', html)
    assert len(shown) == 10
    assert shown[:3] == ["firewall", "laptop", "fax"]
    assert "3 of 17 offerings need a decision" in html
    pager = re.search(r'href="([^"]*page=2[^"]*)" rel="next"', html)
    assert pager is not None
    second = client.get(pager.group(1).replace("&amp;", "&")).text
    rest = re.findall(r'class="health-item" data-offering="([^"]+)"', second)
    assert len(rest) == 7 and not set(rest) & set(shown)
    assert "page 2 of 2" in second and "since=2026-06-01" in pager.group(1)


def test_insights_counts_each_periods_adoption_and_rejection_once(
    client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock.freeze(NOW)
    _catalog(db)
    make_user(db, "ana", analyst=True)
    db.commit()
    sign_in(client, "ana")
    counted: list[tuple[str, datetime]] = []
    for name in ("adoption", "rejection"):
        original = getattr(adoption, name)

        def counting(*args: Any, _name: str = name, _original: Any = original, **kw: Any) -> Any:
            counted.append((_name, kw["period"].since))
            return _original(*args, **kw)

        monkeypatch.setattr(adoption, name, counting)

    assert client.get("/insights?since=2026-06-01&until=2026-06-30").status_code == 200

    # The period and the one before it (for the summary's "before"), each counted once
    # and shared by the summary, offering health and the adoption and rejection tables.
    assert sorted(counted) == sorted(
        [
            ("adoption", datetime(2026, 6, 1, tzinfo=UTC)),
            ("rejection", datetime(2026, 6, 1, tzinfo=UTC)),
            ("adoption", datetime(2026, 5, 2, tzinfo=UTC)),
            ("rejection", datetime(2026, 5, 2, tzinfo=UTC)),
        ]
    )
