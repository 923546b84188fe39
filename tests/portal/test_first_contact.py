"""What a newcomer meets first: filters that name teams as the cards do, tabs only for
what the reader can use, and a README whose history example runs on the demo."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from servicebay.core import identity
from servicebay.core.identity import Role
from servicebay.core.settings import Settings
from servicebay.portal import demo
from servicebay.portal.cli import main
from servicebay.requests import service as requests_service
from tests.factories import make_offering, make_team, make_user
from tests.portal.test_portal_pages import sign_in

ROOT = Path(__file__).resolve().parents[2]
TEAM_STEP = {"steps": [{"name": "Finance check", "decider": "team", "team": "finance"}]}


def _tabs(page: str) -> list[str]:
    nav = re.search(r'<nav aria-label="Main"[^>]*>(.*?)</nav>', page, re.S)
    assert nav is not None, "the page has its main navigation"
    return [
        re.sub(r"<[^>]+>", "", link).strip()
        for link in re.findall(r"<a [^>]*>.*?</a>", nav[1], re.S)
    ]


def test_the_team_filter_lists_team_names_as_the_cards_show_them(
    client: TestClient, db: Session
) -> None:
    platform = identity.create_team(db, slug="platform", name="Platform Engineering")
    pat = make_user(db, "pat", team=platform, role=Role.LEAD)
    make_offering(db, platform, pat, slug="ledger-db", name="Ledger database")
    make_user(db, "casey")
    db.commit()
    sign_in(client, "casey")

    home = client.get("/").text
    team_filter = re.search(r'<select name="team">(.*?)</select>', home, re.S)
    assert team_filter is not None
    options = re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', team_filter[1])
    assert options == [("", "Any"), ("platform", "Platform Engineering")]
    narrowed = client.get("/?team=platform").text
    assert "Ledger database" in narrowed


def test_each_tab_is_shown_to_exactly_those_its_page_has_something_for(
    client: TestClient, db: Session
) -> None:
    platform = make_team(db, "platform")
    finance = make_team(db, "finance")
    pat = make_user(db, "pat", team=platform, role=Role.LEAD)
    make_user(db, "mo", team=platform)
    make_user(db, "fay", team=finance)
    casey = make_user(db, "casey", team=make_team(db, "payments"))
    make_user(db, "newcomer")
    make_user(db, "ana", analyst=True)
    make_user(db, "root", admin=True)
    gated = make_offering(db, platform, pat, name="Budget line", approval_policy=TEAM_STEP)
    requests_service.submit(
        db, actor=casey, offering_slug=gated.slug, inputs={"name": "ledger", "size": "small"}
    )
    db.commit()

    expected = {
        "newcomer": ["Catalog", "My requests"],
        "casey": ["Catalog", "My requests", "Ops"],  # a member may draft her team's offerings
        "fay": ["Catalog", "My requests", "Approvals", "Ops"],  # a step names her team
        "mo": ["Catalog", "My requests", "Ops", "Insights"],
        "pat": ["Catalog", "My requests", "Approvals", "Ops", "Insights"],
        "ana": ["Catalog", "My requests", "Insights"],
        "root": ["Catalog", "My requests", "Approvals", "Ops", "Insights", "Admin"],
    }
    seen = {}
    for username in expected:
        sign_in(client, username)
        seen[username] = _tabs(client.get("/requests").text)
    assert seen == expected

    # The pages say the same: a consumer who types the address finds an explanation,
    # not empty charts or an empty inbox.
    sign_in(client, "casey")
    insights = client.get("/insights").text
    assert "No insights for you here" in insights and "<canvas" not in insights
    assert "No approvals for you" in client.get("/approvals").text
    sign_in(client, "mo")
    assert "No insights for you here" not in client.get("/insights").text


def _readme_history_example() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", readme, re.S)
    (command,) = [block for block in blocks if "history import" in block]
    return shlex.split(command.replace("\\\n", " "))


def test_the_readme_history_example_runs_as_written_on_the_demo(
    sessions: sessionmaker[Session],
    settings: Settings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    demo.load(sessions, settings, password="demo-password")
    program, *arguments = _readme_history_example()
    assert program.endswith("servicebay")
    monkeypatch.chdir(ROOT)  # the README's commands run in the repository
    runner = CliRunner()
    env = {"SERVICEBAY_DATABASE_URL": database_url}

    dry = runner.invoke(main, arguments, env=env)
    assert dry.exit_code == 0, dry.output
    assert "6 cases" in dry.output
    assert "6 requests would be created, 0 already imported; nothing imported" in dry.output

    imported = [argument for argument in arguments if argument != "--dry-run"]
    first = runner.invoke(main, imported, env=env)
    assert first.exit_code == 0, first.output
    assert "6 requests created, 0 already imported" in first.output
    again = runner.invoke(main, imported, env=env)
    assert "0 requests created, 6 already imported" in again.output


def test_a_dry_run_into_an_unknown_offering_says_so_before_anything_is_imported(
    database_url: str, sessions: sessionmaker[Session]
) -> None:
    log = ROOT / "docs" / "examples" / "laptop-tickets.csv"
    columns = ["--case-column", "CaseID", "--activity-column", "ActivityID"]
    columns += ["--timestamp-column", "CompleteTimestamp"]
    result = CliRunner().invoke(
        main,
        ["history", "import", str(log), *columns, "--offering", "helpdesk-ticket", "--dry-run"],
        env={"SERVICEBAY_DATABASE_URL": database_url},
    )
    assert result.exit_code != 0
    assert "no offering 'helpdesk-ticket'" in result.output
