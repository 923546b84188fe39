"""The home page while searching: results take the showcase's place, with and without
JavaScript; a miss offers a close query and still counts as an unmet need."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from servicebay.analytics import demand as demand_analytics
from servicebay.analytics.scope import period_of_days
from servicebay.core.identity import Role
from tests.factories import make_offering, make_team, make_user
from tests.portal.test_portal_pages import sign_in

HTMX = {"HX-Request": "true"}


def _catalog(client: TestClient, db: Session) -> None:
    platform = make_team(db, "platform")
    pat = make_user(db, "pat", team=platform, role=Role.LEAD)
    make_offering(db, platform, pat, slug="postgres", name="PostgreSQL database", category="Data")
    make_offering(
        db,
        platform,
        pat,
        slug="k8s",
        name="Kubernetes namespace",
        category="Compute",
        keywords=["k8s"],
        summary="A namespace with quotas",
    )
    make_user(db, "casey", team=make_team(db, "payments"))
    db.commit()
    sign_in(client, "casey")


def test_a_query_shows_its_results_where_the_showcase_was(client: TestClient, db: Session) -> None:
    _catalog(client, db)
    browsing = client.get("/").text
    assert "New in the catalog" in browsing and 'aria-label="Categories"' in browsing

    searched = client.get("/", params={"q": "databse"}).text
    assert "New in the catalog" not in searched and 'aria-label="Categories"' not in searched
    finds = searched.index('<div id="finds">')
    assert searched.index("PostgreSQL database", finds) < searched.index("My open requests")
    assert "Kubernetes namespace" not in searched[finds:]

    live = client.get("/", params={"q": "k8s"}, headers=HTMX).text
    assert live.lstrip().startswith('<div id="finds">')
    assert "Kubernetes namespace" in live and "New in the catalog" not in live
    cleared = client.get("/", params={"q": ""}, headers=HTMX).text
    assert cleared.lstrip().startswith('<div id="finds">')
    assert "New in the catalog" in cleared and 'aria-label="Categories"' in cleared


def test_a_miss_offers_a_close_query_and_counts_as_an_unmet_need(
    client: TestClient, db: Session
) -> None:
    _catalog(client, db)
    found = client.get("/", params={"q": "kubrnetis namespce"}).text
    assert "Kubernetes namespace" in found  # typos are forgiven: two in a long word
    missed = client.get("/", params={"q": "k9s"}).text
    assert "Nothing matches “k9s”" in missed
    assert 'Did you mean <a class="did-you-mean" href="/?q=k8s&amp;page=1">k8s</a>?' in missed
    # a word close to nothing is left out of the suggestion; live search offers it too
    missed = client.get("/", params={"q": "postgres xqzv"}, headers=HTMX).text
    assert 'href="/?q=postgres&amp;page=1">postgres</a>?' in missed

    client.get("/", params={"q": "kafka topic"})
    unmet = demand_analytics.empty_searches(db, period=period_of_days(None, None))
    db.rollback()
    assert {row.query for row in unmet} == {"k9s", "postgres xqzv", "kafka topic"}
