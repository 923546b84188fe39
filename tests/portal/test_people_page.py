"""Administrators read who is in which team, and in what role; nobody else does."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from servicebay.core import identity
from servicebay.core.identity import Role
from tests.factories import make_user
from tests.portal.test_portal_pages import sign_in


def test_admin_reads_every_team_with_its_leads_and_every_person_with_their_teams(
    client: TestClient, db: Session
) -> None:
    platform = identity.create_team(db, slug="platform", name="Platform Engineering")
    identity.create_team(db, slug="empty", name="Empty Team")
    make_user(db, "pat", team=platform, role=Role.LEAD)
    make_user(db, "mo", team=platform)
    make_user(db, "ana", analyst=True)
    make_user(db, "root", admin=True)
    db.commit()

    sign_in(client, "mo")
    assert client.get("/admin/people").status_code == 403

    sign_in(client, "root")
    page = client.get("/admin/people")
    assert page.status_code == 200
    texts = [
        " ".join(re.sub(r"<[^>]+>", " ", row).split())
        for row in re.findall(r"<tr>(.*?)</tr>", page.text, re.S)
    ]
    rows = {text.split()[0]: f" {text} " for text in texts}
    assert " pat " in rows["Platform"] and " 2 " in rows["Platform"]
    assert "none" in rows["Empty"]
    assert "Platform Engineering lead" in rows["pat"]
    assert "Platform Engineering" in rows["mo"] and "lead" not in rows["mo"]
    assert "Analyst" in rows["ana"] and "no team" in rows["ana"]
    assert "Administrator" in rows["root"]
