"""The `servicebay` command: identity administration, help, settings errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from servicebay.core import identity
from servicebay.portal.cli import main


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found.extend(_commands(command, (*prefix, name)))
        else:
            found.append((*prefix, name))
    return found


@pytest.mark.parametrize("path", _commands(main), ids=lambda p: " ".join(p) or "servicebay")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_teams_users_and_tokens_are_created_from_the_command_line(
    database_url: str, client: TestClient, db: Session, tmp_path: Path
) -> None:
    runner = CliRunner(
        env={"SERVICEBAY_DATABASE_URL": database_url, "SERVICEBAY_DATA_DIR": str(tmp_path)}
    )
    assert runner.invoke(main, ["teams", "create", "platform", "Platform"]).exit_code == 0
    created = runner.invoke(
        main,
        ["users", "create", "pat", "--team", "platform", "--lead", "--password", "long-enough-pw"],
    )
    assert created.exit_code == 0, created.output
    token = runner.invoke(main, ["tokens", "create", "pat", "--scope", "read"])
    assert token.exit_code == 0
    value = token.stdout.strip().splitlines()[0]
    assert value.startswith("sb_")

    pat = identity.get_user(db, username="pat")
    assert pat.role_in(identity.get_team(db, slug="platform").id) is identity.Role.LEAD
    db.rollback()
    answer = client.get("/api/v1/requests", headers={"Authorization": f"Bearer {value}"})
    assert answer.status_code == 200

    again = runner.invoke(main, ["teams", "create", "platform", "Platform"])
    assert again.exit_code == 1
    assert "already exists" in again.output
    short = runner.invoke(main, ["users", "create", "sam", "--password", "short"])
    assert "at least 8 characters" in short.output


def test_invalid_setting_stops_with_one_line_naming_it(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "servicebay.portal.cli", "db", "upgrade"],
        env={"SERVICEBAY_BASE_URL": "ftp://nope", "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [
        "Error: invalid setting SERVICEBAY_BASE_URL: "
        "Value error, must start with http:// or https://"
    ]


def test_users_set_password_replaces_the_password_and_ends_a_lockout(
    database_url: str, db: Session, tmp_path: Path
) -> None:
    runner = CliRunner(
        env={"SERVICEBAY_DATABASE_URL": database_url, "SERVICEBAY_DATA_DIR": str(tmp_path)}
    )
    created = runner.invoke(main, ["users", "create", "pat", "--password", "first-password"])
    assert created.exit_code == 0, created.output
    for _ in range(identity.LOCKOUT_AFTER):
        assert identity.authenticate(db, username="pat", password="wrong-guess") is None
    db.commit()

    changed = runner.invoke(main, ["users", "set-password", "pat", "--password", "second-password"])
    assert changed.exit_code == 0, changed.output
    assert "password of pat set" in changed.output
    db.expire_all()
    assert identity.authenticate(db, username="pat", password="first-password") is None
    assert identity.authenticate(db, username="pat", password="second-password") is not None


def test_users_set_password_asks_twice_when_not_given(
    database_url: str, db: Session, tmp_path: Path
) -> None:
    runner = CliRunner(
        env={"SERVICEBAY_DATABASE_URL": database_url, "SERVICEBAY_DATA_DIR": str(tmp_path)}
    )
    runner.invoke(main, ["users", "create", "sam", "--password", "first-password"])
    asked = runner.invoke(
        main, ["users", "set-password", "sam"], input="typed-password\ntyped-password\n"
    )
    assert asked.exit_code == 0, asked.output
    assert identity.authenticate(db, username="sam", password="typed-password") is not None
    db.rollback()

    unknown = runner.invoke(main, ["users", "set-password", "nobody", "--password", "long-enough"])
    assert unknown.exit_code == 1
    assert "no user 'nobody'" in unknown.output
    short = runner.invoke(main, ["users", "set-password", "sam", "--password", "short"])
    assert "at least 8 characters" in short.output
