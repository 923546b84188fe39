"""Catalog-as-code: apply and export YAML files, from the CLI and the API."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from servicebay.catalog.models import Offering, OfferingVersion
from servicebay.core.events import Event
from servicebay.core.identity import Role
from servicebay.portal.cli import main
from tests.factories import make_offering, make_team, make_user, token_for

DATABASE = """\
slug: postgres
name: PostgreSQL database
owner_team: platform
summary: A managed database
description: |
  You get a database and a connection string.

  * Daily backups
category: Data
tags: [database, postgres]
contact: "#platform-help"
runbook_url: https://runbooks.example.com/postgres
form:
  fields:
    - name: size
      label: Size
      type: select
      options: [small, large]
      required: true
    - name: reason
      label: Why large?
      type: textarea
      show_if: {field: size, equals: large}
approval_policy:
  steps:
    - name: Large needs a lead
      decider: owner_leads
      condition: size == "large"
fulfilment:
  kind: webhook
  url: https://hooks.example.com/postgres
  timeout_seconds: 5
webhook_secret_env: POSTGRES_HOOK_SECRET
sle: {percent: 85, within_hours: 48}
cost: 40
quota: {count: 3, period_days: 30}
"""

LAPTOP = """\
slug: laptop
name: Laptop
owner_team: it
description: A laptop.
contact: it@example.com
runbook_url: https://runbooks.example.com/laptop
no_input_needed: true
fulfilment:
  kind: manual
  checklist: [Order, Image, Hand over]
sle: {percent: 80, within_hours: 72}
"""

SECRET = "whsec_c2VydmljZWJheS10ZXN0LXNlY3JldA=="


def _run(database_url: str, tmp_path: Path, *args: str, secret: bool = True) -> Result:
    env = {
        "SERVICEBAY_DATABASE_URL": database_url,
        "SERVICEBAY_DATA_DIR": str(tmp_path),
        "SERVICEBAY_CATALOG_SECRET_VARIABLES": '["POSTGRES_HOOK_SECRET"]',
    }
    if secret:
        env["POSTGRES_HOOK_SECRET"] = SECRET
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def _folder(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "catalog"
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def _teams(db: Session) -> None:
    make_team(db, "platform")
    make_team(db, "it")
    db.commit()


def _count(db: Session, model: type) -> int:
    count = int(db.scalar(select(func.count()).select_from(model)) or 0)
    db.rollback()
    return count


def test_apply_creates_then_is_idempotent_and_export_then_apply_changes_nothing(
    db: Session, database_url: str, tmp_path: Path
) -> None:
    _teams(db)
    folder = _folder(tmp_path, {"platform/postgres.yaml": DATABASE, "it/laptop.yml": LAPTOP})

    first = _run(database_url, tmp_path, "catalog", "apply", str(folder))
    assert first.exit_code == 0, first.output
    assert "created         laptop" in first.output and "created         postgres" in first.output
    offering = db.scalars(select(Offering).where(Offering.slug == "postgres")).one()
    version = offering.current_version
    assert version is not None
    assert (offering.status, version.status) == ("published", "published")
    assert version.webhook_secret == SECRET
    assert (version.quota_count, version.quota_period_days) == (3, 30)
    db.rollback()

    again = _run(database_url, tmp_path, "catalog", "apply", str(folder))
    assert "0 created, 0 changed, 2 unchanged, 0 to deprecate" in again.output

    exported = tmp_path / "exported"
    assert _run(database_url, tmp_path, "catalog", "export", str(exported)).exit_code == 0
    written = sorted(p.relative_to(exported).as_posix() for p in exported.rglob("*.yaml"))
    assert written == ["it/laptop.yaml", "platform/postgres.yaml"]
    text = (exported / "platform/postgres.yaml").read_text()
    assert SECRET not in text and "webhook_secret_env: POSTGRES_HOOK_SECRET" in text
    versions_before = _count(db, OfferingVersion)
    replayed = _run(database_url, tmp_path, "catalog", "apply", str(exported))
    assert "0 created, 0 changed, 2 unchanged, 0 to deprecate" in replayed.output, replayed.output
    assert _count(db, OfferingVersion) == versions_before


def test_dry_run_prints_the_diff_and_writes_nothing(
    db: Session, database_url: str, tmp_path: Path
) -> None:
    _teams(db)
    # Offerings of a team named in the files but left out of them are deprecated.
    laptop = LAPTOP.replace("owner_team: it", "owner_team: platform")
    folder = _folder(tmp_path, {"postgres.yaml": DATABASE, "laptop.yaml": laptop})
    _run(database_url, tmp_path, "catalog", "apply", str(folder))
    (folder / "postgres.yaml").write_text(DATABASE.replace("cost: 40", "cost: 55"))
    (folder / "laptop.yaml").unlink()
    events_before = _count(db, Event)

    planned = _run(database_url, tmp_path, "catalog", "apply", "--dry-run", str(folder))
    assert planned.exit_code == 0, planned.output
    assert "changed         postgres (cost)" in planned.output
    assert "would deprecate laptop" in planned.output
    assert _count(db, Event) == events_before

    applied = _run(database_url, tmp_path, "catalog", "apply", str(folder))
    assert "1 changed" in applied.output and "1 to deprecate" in applied.output
    statuses = dict(db.execute(select(Offering.slug, Offering.status)).all())
    db.rollback()
    assert statuses == {"postgres": "published", "laptop": "deprecated"}


def test_bad_file_names_file_line_and_field_and_leaves_the_database_untouched(
    db: Session, database_url: str, tmp_path: Path
) -> None:
    _teams(db)
    broken = LAPTOP.replace("kind: manual", "kind: carrier-pigeon")
    folder = _folder(
        tmp_path,
        {
            "a/postgres.yaml": DATABASE.replace("type: textarea", "type: colour"),
            "b/laptop.yaml": broken,
            "c/ok.yaml": LAPTOP.replace("slug: laptop", "slug: fine"),
        },
    )
    refused = _run(database_url, tmp_path, "catalog", "apply", str(folder))
    assert refused.exit_code != 0
    assert "a/postgres.yaml:22: form.fields.1.type:" in refused.output
    assert "b/laptop.yaml:9: fulfilment" in refused.output
    assert _count(db, Offering) == 0


def test_malformed_yaml_and_missing_secret_are_reported_by_file_and_line(
    db: Session, database_url: str, tmp_path: Path
) -> None:
    _teams(db)
    folder = _folder(tmp_path, {"bad.yaml": "slug: x\nname: [unclosed\n", "db.yaml": DATABASE})
    refused = _run(database_url, tmp_path, "catalog", "apply", str(folder), secret=False)
    assert refused.exit_code != 0
    assert "bad.yaml:3: yaml:" in refused.output
    assert (
        "db.yaml:33: webhook_secret_env: POSTGRES_HOOK_SECRET is not a secret variable "
        "this server offers to catalog files"
    ) in refused.output
    assert _count(db, Offering) == 0


def test_the_command_line_reads_its_own_environment_only_when_asked_and_never_settings(
    db: Session, database_url: str, tmp_path: Path
) -> None:
    _teams(db)
    folder = _folder(tmp_path, {"db.yaml": DATABASE})
    env = {
        "SERVICEBAY_DATABASE_URL": database_url,
        "SERVICEBAY_DATA_DIR": str(tmp_path),
        "POSTGRES_HOOK_SECRET": SECRET,
    }
    runner = CliRunner()
    refused = runner.invoke(main, ["catalog", "apply", str(folder)], env=env)
    assert refused.exit_code != 0 and "is not a secret variable this server offers" in (
        refused.output
    )
    asked = ["catalog", "apply", "--secrets-from-environment", str(folder)]
    master = DATABASE.replace("POSTGRES_HOOK_SECRET", "SERVICEBAY_SECRET_KEY")
    (folder / "db.yaml").write_text(master)
    refused = runner.invoke(main, asked, env=env | {"SERVICEBAY_SECRET_KEY": "k" * 40})
    assert refused.exit_code != 0
    assert "SERVICEBAY_SECRET_KEY is not a secret variable this server offers" in refused.output
    (folder / "db.yaml").write_text(DATABASE.replace("POSTGRES_HOOK_SECRET", "UNSET_HOOK"))
    refused = runner.invoke(main, asked, env=env)
    assert "environment variable UNSET_HOOK is not set" in refused.output
    (folder / "db.yaml").write_text(DATABASE)
    applied = runner.invoke(main, asked, env=env)
    assert applied.exit_code == 0, applied.output
    assert db.scalar(select(OfferingVersion.webhook_secret)) == SECRET


def test_duplicate_slug_across_files_is_refused(
    db: Session, database_url: str, tmp_path: Path
) -> None:
    _teams(db)
    folder = _folder(tmp_path, {"one.yaml": LAPTOP, "two.yaml": LAPTOP})
    refused = _run(database_url, tmp_path, "catalog", "apply", str(folder))
    assert "two.yaml:1: slug: 'laptop' is defined in one.yaml too" in refused.output
    assert _count(db, Offering) == 0


def test_file_not_ready_to_publish_rolls_back_every_file(
    db: Session, database_url: str, tmp_path: Path
) -> None:
    _teams(db)
    unready = LAPTOP.replace("contact: it@example.com\n", "").replace("slug: laptop", "slug: bare")
    folder = _folder(tmp_path, {"ok.yaml": LAPTOP, "zz.yaml": unready})
    refused = _run(database_url, tmp_path, "catalog", "apply", str(folder))
    assert refused.exit_code != 0
    assert "zz.yaml" in refused.output and "owner_and_contact" in refused.output
    assert _count(db, Offering) == 0


def test_api_apply_with_dry_run_then_for_real(client: TestClient, db: Session) -> None:
    it = make_team(db, "it")
    lead = make_user(db, team=it, role=Role.LEAD)
    headers = token_for(db, lead)
    db.commit()
    planned = client.post(
        "/api/v1/catalog/apply",
        headers=headers,
        json={"files": {"laptop.yaml": LAPTOP}, "dry_run": True},
    )
    assert planned.status_code == 200, planned.text
    assert planned.json()["entries"] == [
        {"slug": "laptop", "action": "created", "file": "laptop.yaml", "changes": []}
    ]
    assert _count(db, Offering) == 0
    applied = client.post(
        "/api/v1/catalog/apply", headers=headers, json={"files": {"laptop.yaml": LAPTOP}}
    )
    assert applied.json()["summary"].startswith("1 created")
    shown = client.get("/api/v1/offerings/laptop", headers=headers).json()
    assert shown["status"] == "published" and shown["no_input_needed"] is True


def test_api_apply_reports_problems_as_json_and_refuses_strangers(
    client: TestClient, db: Session
) -> None:
    it = make_team(db, "it")
    lead = make_user(db, team=it, role=Role.LEAD)
    stranger = make_user(db, team=make_team(db), role=Role.LEAD)
    make_offering(db, it, lead, slug="laptop")
    headers, stranger_headers = token_for(db, lead), token_for(db, stranger)
    db.commit()
    bad = client.post(
        "/api/v1/catalog/apply",
        headers=headers,
        json={"files": {"x.yaml": "slug: Not A Slug\nname: X\nowner_team: it\n"}},
    )
    assert bad.status_code == 422
    fields = [problem["field"] for problem in bad.json()["detail"]]
    assert "x.yaml:1: slug" in fields and "x.yaml:1: fulfilment" in fields
    denied = client.post(
        "/api/v1/catalog/apply",
        headers=stranger_headers,
        json={"files": {"laptop.yaml": LAPTOP.replace("Laptop", "Stolen laptop")}},
    )
    assert denied.status_code == 403
    assert client.get("/api/v1/offerings/laptop", headers=headers).json()["name"] == "Database"


def test_documented_example_applies_cleanly(db: Session, database_url: str, tmp_path: Path) -> None:
    _teams(db)
    docs = Path(__file__).parents[2] / "docs" / "catalog-as-code.md"
    example = docs.read_text().split("```yaml\n", 1)[1].split("```", 1)[0]
    folder = _folder(tmp_path, {"example.yaml": example})
    applied = _run(database_url, tmp_path, "catalog", "apply", str(folder))
    assert applied.exit_code == 0, applied.output


def test_lifecycle_from_files_deprecates_and_retires_and_round_trips(
    db: Session, database_url: str, tmp_path: Path
) -> None:
    _teams(db)
    newer = LAPTOP.replace("slug: laptop", "slug: laptop-2024")
    older = (
        LAPTOP
        + "status: deprecated\nreplacement: laptop-2024\n"
        + "deprecation_notice: Order the 2024 model.\n"
    )
    gone = LAPTOP.replace("slug: laptop", "slug: desktop") + "status: retired\n"
    # "a-old.yaml" is read before the file that defines its replacement.
    folder = _folder(tmp_path, {"a-old.yaml": older, "new.yaml": newer, "gone.yaml": gone})
    applied = _run(database_url, tmp_path, "catalog", "apply", str(folder))
    assert applied.exit_code == 0, applied.output
    rows = db.execute(select(Offering.slug, Offering.status, Offering.replacement_slug)).all()
    db.rollback()
    assert sorted(tuple(row) for row in rows) == [
        ("desktop", "retired", None),
        ("laptop", "deprecated", "laptop-2024"),
        ("laptop-2024", "published", None),
    ]
    exported = tmp_path / "exported"
    _run(database_url, tmp_path, "catalog", "export", str(exported))
    assert "deprecation_notice: Order the 2024 model." in (exported / "it/laptop.yaml").read_text()
    replayed = _run(database_url, tmp_path, "catalog", "apply", str(exported))
    assert "0 created, 0 changed, 3 unchanged, 0 to deprecate" in replayed.output, replayed.output
