"""Keywords set by the owner team: kept through the editor, catalog-as-code and the API,
and found by search on every database."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from servicebay.catalog import as_code, search
from servicebay.catalog.models import Offering
from servicebay.core.identity import Role
from tests.factories import make_offering, make_team, make_user, pass_dry_run, token_for
from tests.portal.test_ops_offering_pages import _editor_form
from tests.test_walking_skeleton import _sign_in

NAMESPACE = """\
slug: k8s-namespace
name: Kubernetes namespace
status: published
owner_team: platform
summary: A namespace with quotas.
description: A namespace with quotas and CI access.
keywords: [k8s, kube]
contact: platform@example.com
runbook_url: https://runbooks.example.com/k8s
no_input_needed: true
fulfilment:
  kind: manual
  checklist: [Create it]
sle: {percent: 85, within_hours: 4}
"""


def test_keywords_from_a_catalog_file_are_searched_and_exported(db: Session) -> None:
    platform = make_team(db, "platform")
    casey = make_user(db, "casey", team=make_team(db, "payments"))
    as_code.apply(db, actor=None, files={"platform/k8s.yaml": NAMESPACE})
    db.commit()
    assert [o.slug for o in search.find(db, viewer=casey, query="k8s").offerings] == [
        "k8s-namespace"
    ]
    exported = as_code.export(db)[f"{platform.slug}/k8s-namespace.yaml"]
    assert "keywords:\n- k8s\n- kube\n" in exported
    replayed = as_code.apply(db, actor=None, files={"platform/k8s.yaml": exported})
    assert replayed.count("unchanged") == 1


def test_keywords_are_set_in_the_editor_and_shown_in_the_api(
    client: TestClient, db: Session
) -> None:
    platform = make_team(db, "platform")
    make_user(db, "pat", team=platform, role=Role.LEAD)
    casey = make_user(db, "casey", team=make_team(db, "payments"))
    headers = token_for(db, casey)
    db.commit()
    cookies = _sign_in(client, "pat")
    form = _editor_form(cookies["sb_csrf"], keywords="vps, compute box")
    assert client.post("/ops/offerings/new", data=form, follow_redirects=False).status_code == 303
    assert 'value="vps, compute box"' in client.get("/ops/offerings/vm").text
    offering = db.scalars(select(Offering).where(Offering.slug == "vm")).one()
    pass_dry_run(db, offering)
    db.commit()
    published = client.post("/ops/offerings/vm/publish", data={"csrf_token": cookies["sb_csrf"]})
    assert "Published version 1" in published.text

    found = client.get("/api/v1/offerings", headers=headers, params={"q": "vps"}).json()
    assert [item["slug"] for item in found["items"]] == ["vm"]
    assert found["items"][0]["keywords"] == ["vps", "compute box"]


def test_api_search_forgives_typos_and_suggests_on_a_miss(client: TestClient, db: Session) -> None:
    platform = make_team(db, "platform")
    pat = make_user(db, "pat", team=platform, role=Role.LEAD)
    make_offering(db, platform, pat, slug="postgres", name="PostgreSQL database", tags=[])
    make_offering(db, platform, pat, slug="vpn", name="VPN access", summary="Remote access")
    headers = token_for(db, make_user(db, "casey", team=make_team(db, "payments")))
    db.commit()

    def ask(query: str) -> dict:
        return client.get("/api/v1/offerings", headers=headers, params={"q": query}).json()

    assert [item["slug"] for item in ask("databse")["items"]] == ["postgres"]
    assert ask("databse")["did_you_mean"] is None
    missed = ask("vpm")
    assert (missed["total"], missed["did_you_mean"]) == (0, "vpn")


def test_a_restricted_offering_is_neither_found_nor_suggested_to_other_teams(
    db: Session,
) -> None:
    platform = make_team(db, "platform")
    finance = make_team(db, "finance")
    pat = make_user(db, "pat", team=platform, role=Role.LEAD)
    make_offering(db, platform, pat, slug="ledger", name="Ledger export", visibility=[finance.slug])
    outsider = make_user(db, "casey", team=make_team(db, "payments"))
    insider = make_user(db, "fin", team=finance)
    db.commit()
    assert [o.slug for o in search.find(db, viewer=insider, query="ledgr").offerings] == ["ledger"]
    assert search.find(db, viewer=insider, query="ldgr").did_you_mean == "ledger"
    hidden = search.find(db, viewer=outsider, query="ldgr")
    assert (hidden.total, hidden.did_you_mean) == (0, "")
    assert search.find(db, viewer=outsider, query="ledger").total == 0
