"""Browsing from the outline each process keeps: current after every catalog change,
and never showing a restricted offering to someone outside its teams."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from servicebay.catalog import browse, search
from servicebay.catalog import service as catalog_service
from servicebay.core.events import Event
from servicebay.core.identity import Role, Team, User
from tests.factories import make_offering, make_team, make_user
from tests.portal.test_portal_pages import sign_in


def _casey_signed_in_beside(
    client: TestClient, db: Session, *, name: str, category: str
) -> tuple[Team, User]:
    """A platform team (lead: pat) with one published offering; casey signed in."""
    team = make_team(db, "platform")
    lead = make_user(db, "pat", team=team, role=Role.LEAD)
    make_offering(db, team, lead, name=name, category=category)
    make_user(db, "casey")
    db.commit()
    sign_in(client, "casey")
    return team, lead


def test_home_shows_a_change_made_after_it_was_first_served(
    client: TestClient, db: Session
) -> None:
    team, lead = _casey_signed_in_beside(client, db, name="Database", category="Data")
    assert "Queue" not in client.get("/").text  # the outline is kept from here on

    queue = make_offering(db, team, lead, name="Queue", category="Messaging")
    db.commit()
    home = client.get("/").text
    assert "Queue" in home and "Messaging" in home

    catalog_service.retire(db, actor=lead, offering=queue)
    db.commit()
    home = client.get("/").text
    assert "Queue" not in home and "Messaging" not in home


def test_a_restricted_offering_is_browsed_only_by_its_teams(db: Session) -> None:
    platform = make_team(db, "platform")
    finance = make_team(db, "finance")
    lead = make_user(db, "pat", team=platform, role=Role.LEAD)
    make_offering(db, platform, lead, name="Database", category="Data", tags=["sql"])
    make_offering(
        db,
        platform,
        lead,
        name="Ledger export",
        category="Finance",
        tags=["ledger"],
        visibility=[finance.slug],
    )
    member = make_user(db, "fiona", team=finance)
    outsider = make_user(db, "casey")
    db.commit()

    for viewer, sees in ((member, True), (outsider, False)):
        found = search.find(db, viewer=viewer)
        assert ("Ledger export" in [o.name for o in found.offerings]) is sees
        assert found.total == (2 if sees else 1)
        assert ("Finance" in found.facets["category"]) is sees
        assert ("ledger" in found.facets["tag"]) is sees
        assert (("Finance", 1) in browse.snapshot(db).category_counts(viewer)) is sees
        filtered = search.find(db, viewer=viewer, filters=search.Filters(tag="ledger"))
        assert filtered.total == (1 if sees else 0)


def test_browsing_pages_through_the_catalog_in_category_and_name_order(db: Session) -> None:
    team = make_team(db, "platform")
    lead = make_user(db, "pat", team=team, role=Role.LEAD)
    names = [("Zeta", "Access"), ("Alpha", "Data"), ("Beta", "Access"), ("Gamma", "Data")]
    for name, category in names:
        make_offering(db, team, lead, name=name, category=category)
    db.commit()

    first = search.find(db, viewer=lead, per_page=3)
    second = search.find(db, viewer=lead, per_page=3, page=2)
    assert [o.name for o in first.offerings] == ["Beta", "Zeta", "Alpha"]
    assert [o.name for o in second.offerings] == ["Gamma"]
    assert first.total == second.total == 4 and first.pages == 2
    data = search.find(db, viewer=lead, filters=search.Filters(category="Data"))
    assert [o.name for o in data.offerings] == ["Alpha", "Gamma"]


def test_a_search_finds_what_was_published_after_the_same_search_ran(db: Session) -> None:
    team = make_team(db, "platform")
    lead = make_user(db, "pat", team=team, role=Role.LEAD)
    make_offering(db, team, lead, name="Kafka topic", category="Messaging")
    db.commit()
    assert search.find(db, viewer=lead, query="kafka").total == 1

    make_offering(db, team, lead, name="Kafka user", category="Messaging")
    db.commit()
    found = search.find(db, viewer=lead, query="kafka")
    assert found.total == 2 and {o.name for o in found.offerings} == {"Kafka topic", "Kafka user"}


def test_home_parts_kept_for_one_viewer_never_show_another_what_they_may_not_see(
    client: TestClient, db: Session
) -> None:
    platform = make_team(db, "platform")
    finance = make_team(db, "finance")
    lead = make_user(db, "pat", team=platform, role=Role.LEAD)
    make_offering(db, platform, lead, name="Database", category="Data")
    make_offering(
        db, platform, lead, name="Ledger export", category="Finance", visibility=[finance.slug]
    )
    make_user(db, "fiona", team=finance)
    make_user(db, "casey")
    db.commit()

    for _ in range(2):  # the second round is served from what the first one kept
        sign_in(client, "fiona")
        assert "Ledger export" in client.get("/").text
        assert "Ledger export" in client.get("/?q=ledger").text
        sign_in(client, "casey")
        home = client.get("/").text
        assert "Ledger export" not in home and "Finance" not in home
        assert "Nothing matches" in client.get("/?q=ledger").text


def test_every_search_is_recorded_also_when_its_results_were_kept(
    client: TestClient, db: Session
) -> None:
    _casey_signed_in_beside(client, db, name="Kafka topic", category="Messaging")
    for _ in range(3):
        assert "Kafka topic" in client.get("/?q=kafka").text
    searches = db.scalars(select(Event).where(Event.type == "catalog.searched")).all()
    assert [event.data["results"] for event in searches] == [1, 1, 1]


def test_popular_shows_the_most_requested_of_what_the_viewer_may_request(db: Session) -> None:
    platform = make_team(db, "platform")
    finance = make_team(db, "finance")
    lead = make_user(db, "pat", team=platform, role=Role.LEAD)
    database = make_offering(db, platform, lead, name="Database")
    ledger = make_offering(db, platform, lead, name="Ledger export", visibility=[finance.slug])
    draft = make_offering(db, platform, lead, name="Queue", publish=False)
    member = make_user(db, "fiona", team=finance)
    outsider = make_user(db, "casey")
    db.commit()
    counts = [(ledger.id, 9), (draft.id, 7), (database.id, 3)]  # most requested first
    outline = browse.snapshot(db)

    shown_to_member = browse.popular(db, member, outline, counts=counts)
    shown_to_outsider = browse.popular(db, outsider, outline, counts=counts)

    assert [(o.name, n) for o, n in shown_to_member] == [("Ledger export", 9), ("Database", 3)]
    assert [(o.name, n) for o, n in shown_to_outsider] == [("Database", 3)]
