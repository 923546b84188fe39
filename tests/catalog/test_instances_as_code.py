"""Instances and day-2 operations in catalog-as-code and in the offering editor: written,
stored, exported as written, refused with the problem named."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from servicebay.catalog import service as catalog_service
from servicebay.catalog.models import Offering
from servicebay.core.identity import Role
from servicebay.portal.cli import main
from tests.factories import make_team, make_user, sign_in
from tests.portal.test_ops_offering_pages import _editor_form

SECRET = "whsec_c2VydmljZWJheS10ZXN0LXNlY3JldA=="
DOCS = Path(__file__).parents[2] / "docs" / "instances.md"


def _run(database_url: str, tmp_path: Path, *args: str) -> Result:
    env = {
        "SERVICEBAY_DATABASE_URL": database_url,
        "SERVICEBAY_DATA_DIR": str(tmp_path),
        "SERVICEBAY_CATALOG_SECRET_VARIABLES": '["DATABASE_HOOK_SECRET"]',
        "DATABASE_HOOK_SECRET": SECRET,
    }
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def _documented_example() -> str:
    return DOCS.read_text().split("```yaml\n", 1)[1].split("```", 1)[0]


def test_the_documented_offering_with_operations_applies_exports_and_applies_unchanged(
    db: Session, database_url: str, tmp_path: Path
) -> None:
    make_team(db, "platform")
    db.commit()
    folder = tmp_path / "catalog"
    folder.mkdir()
    (folder / "team-database.yaml").write_text(_documented_example())

    applied = _run(database_url, tmp_path, "catalog", "apply", str(folder))
    assert applied.exit_code == 0, applied.output
    offering = db.scalars(select(Offering).where(Offering.slug == "team-database")).one()
    assert offering.current_version is not None
    spec = catalog_service.instances_of(offering.current_version)
    assert spec is not None and spec.name_field == "name"
    assert [op.name for op in spec.operations] == ["resize", "rotate-credentials", "decommission"]
    resize, rotate, decommission = spec.operations
    assert resize.approval_policy.steps[0].condition == "size_gb > 500"
    assert [r.value for r in rotate.allowed] == ["owner", "ops"]
    assert decommission.retires and decommission.fulfilment.kind == "manual"
    assert offering.current_version.webhook_secret == SECRET  # operations' webhooks sign too
    db.rollback()

    exported = tmp_path / "exported"
    assert _run(database_url, tmp_path, "catalog", "export", str(exported)).exit_code == 0
    text = (exported / "platform/team-database.yaml").read_text()
    assert "instances:" in text and "name: rotate-credentials" in text and "retires: true" in text
    again = _run(database_url, tmp_path, "catalog", "apply", str(exported))
    assert "0 created, 0 changed, 1 unchanged" in again.output, again.output


def test_an_operation_whose_condition_names_a_field_not_on_its_form_is_refused_by_file_and_line(
    db: Session, database_url: str, tmp_path: Path
) -> None:
    make_team(db, "platform")
    db.commit()
    folder = tmp_path / "catalog"
    folder.mkdir()
    broken = _documented_example().replace("condition: size_gb > 500", "condition: disk > 500")
    (folder / "team-database.yaml").write_text(broken)

    refused = _run(database_url, tmp_path, "catalog", "apply", str(folder))
    assert refused.exit_code != 0
    assert "team-database.yaml" in refused.output
    assert "operation 'resize'" in refused.output and "disk" in refused.output
    assert db.scalar(select(Offering.id).where(Offering.slug == "team-database")) is None


def test_the_editor_saves_the_instances_section_and_shows_it_again_as_yaml(
    client: TestClient, db: Session
) -> None:
    platform = make_team(db, "platform")
    make_user(db, "pat", team=platform, role=Role.LEAD)
    db.commit()
    csrf = sign_in(client, "pat")
    section = (
        "name_field: size\n"
        "operations:\n"
        "  - name: resize\n"
        "    form: {fields: [{name: size, label: Size, type: select, options: [small, large]}]}\n"
        "    fulfilment: {kind: manual}\n"
    )
    created = client.post(
        "/ops/offerings/new", data=_editor_form(csrf, instances=section), follow_redirects=False
    )
    assert created.status_code == 303, created.text
    offering = db.scalars(select(Offering).where(Offering.slug == "vm")).one()
    assert offering.current_version is not None
    spec = catalog_service.instances_of(offering.current_version)
    assert spec is not None and [op.name for op in spec.operations] == ["resize"]
    db.rollback()
    page = client.get("/ops/offerings/vm")
    assert "name_field: size" in page.text and "- name: resize" in page.text


def test_the_editor_refuses_an_instances_section_that_is_not_yaml_keeping_what_was_typed(
    client: TestClient, db: Session
) -> None:
    platform = make_team(db, "platform")
    make_user(db, "pat", team=platform, role=Role.LEAD)
    db.commit()
    csrf = sign_in(client, "pat")
    typed = "operations: [name: resize"
    refused = client.post("/ops/offerings/new", data=_editor_form(csrf, instances=typed))
    assert refused.status_code == 422
    assert "not valid YAML" in refused.text
    assert typed in refused.text
    assert db.scalar(select(Offering.id).where(Offering.slug == "vm")) is None
