"""Search finds what people mean: a relevance set of queries (typos, keywords, word starts,
other words, needs the catalog does not meet) over the demo catalog, each with the
offering that must come first, or none."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from servicebay.catalog import search
from servicebay.catalog import service as catalog_service
from servicebay.catalog.schemas import OfferingIn
from servicebay.core.identity import Role, User
from servicebay.portal import demo
from tests.factories import make_team, make_user, pass_dry_run

# query, the slug that must rank first (None: nothing may be found)
RELEVANCE: list[tuple[str, str | None]] = [
    # word starts, as people type
    ("postg", "postgres-database"),
    ("namesp", "k8s-namespace"),
    ("firewal", "firewall-rule"),
    ("trademark", "trademark-check"),
    ("architect", "architecture-review"),
    ("budg", "budget-transfer"),
    ("fax", "fax-line"),
    ("dns", "dns-record"),
    ("vpn", "vpn-access"),
    # typos
    ("databse", "postgres-database"),
    ("laptp", "laptop"),
    ("bukcet", "object-bucket"),
    ("dashbord", "dashboard"),
    ("kubernets namespce", "k8s-namespace"),
    ("penetraton test", "pentest"),
    ("shared malbox", "shared-mailbox"),
    ("licence", "software-licence"),
    ("purchse order", "purchase-order"),
    ("postgrs", "postgres-database"),
    # the owner teams' keywords and other words for the same thing
    ("k8s", "k8s-namespace"),
    ("kube", "k8s-namespace"),
    ("postgres db", "postgres-database"),
    ("license", "software-licence"),
    ("notebook", "laptop"),
    ("macbook", "laptop"),
    ("s3", "object-bucket"),
    ("build agent", "ci-runner"),
    ("api key", "secret-rotation"),
    ("pen test", "pentest"),
    ("email inbox", "shared-mailbox"),
    ("webcam", "meeting-room-kit"),
    ("grafana", "dashboard"),
    ("csv export", "data-export"),
    ("nda", "nda"),
    ("po", "purchase-order"),
    ("cost center", "budget-transfer"),
    ("supplier onboarding", "vendor-onboarding"),
    ("domain name", "dns-record"),
    ("remote work", "vpn-access"),
    # whole names and sentences
    ("PostgreSQL database", "postgres-database"),
    ("Kubernetes", "k8s-namespace"),
    ("non disclosure", "nda"),
    ("access review", "access-review"),
    ("contract review", "contract-review"),
    ("meeting room", "meeting-room-kit"),
    ("rotate a secret", "secret-rotation"),
    ("open a port", "firewall-rule"),
    ("I need a new laptop", "laptop"),
    ("analytics dataset", "analytics-dataset"),
    # needs the catalog does not meet: nothing found (and so counted as demand)
    ("kafka topic", None),
    ("payroll", None),
    ("coffee machine", None),
    ("parking space", None),
    ("jira project", None),
    ("xyzzy", None),
]


def demo_catalog(db: Session) -> User:
    """The demo's offerings, published by a lead of each owner team; a consumer to search."""
    leads = {}
    for slug, _ in demo.OPS_TEAMS:
        leads[slug] = make_user(db, f"{slug}-lead", team=make_team(db, slug), role=Role.LEAD)
    for spec in demo.offering_specs():
        definition = OfferingIn.model_validate(spec)
        lead = leads[definition.owner_team]
        offering = catalog_service.create_offering(db, actor=lead, definition=definition)
        pass_dry_run(db, offering)
        catalog_service.publish(db, actor=lead, offering=offering)
    consumer = make_user(db, "casey", team=make_team(db, "payments"))
    db.commit()
    return consumer


def test_the_expected_offering_ranks_first_for_every_query_of_the_relevance_set(
    db: Session, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    casey = demo_catalog(db)
    misses = []
    for query, expected in RELEVANCE:
        found = search.find(db, viewer=casey, query=query, per_page=5)
        first = found.offerings[0].slug if found.offerings else None
        if first != expected:
            misses.append(f"{query!r}: expected {expected}, first {first} ({found.total} found)")
    share = (len(RELEVANCE) - len(misses)) / len(RELEVANCE)
    backend = database_url.split(":", 1)[0].split("+", 1)[0]
    with capsys.disabled():
        print(
            f"\nsearch relevance on {backend}: {len(RELEVANCE) - len(misses)}/{len(RELEVANCE)}"
            f" queries ({share:.0%}) rank the expected offering first"
        )
    assert len(RELEVANCE) >= 40
    assert not misses, "\n".join(misses)


def test_a_query_that_finds_nothing_suggests_one_that_does(db: Session) -> None:
    casey = demo_catalog(db)
    missed = search.find(db, viewer=casey, query="vpm")
    assert missed.total == 0 and missed.did_you_mean == "vpn"
    assert search.find(db, viewer=casey, query=missed.did_you_mean).offerings[0].slug == (
        "vpn-access"
    )
    assert search.find(db, viewer=casey, query="kafka topic").did_you_mean == ""
    # a suggestion is only made when it finds something within the chosen filters
    filtered = search.find(
        db, viewer=casey, query="vpm", filters=search.Filters(category="Workplace")
    )
    assert filtered.total == 0 and filtered.did_you_mean == ""
