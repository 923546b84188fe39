"""Pipelines in catalog-as-code: the documented three-step example applies, round-trips
through export, and a file naming an unknown step output is refused with the step."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.orm import Session

from servicebay.catalog import service
from servicebay.catalog.models import Offering
from servicebay.catalog.schemas import PipelineFulfilment
from servicebay.portal.cli import main
from tests.factories import make_team

SECRET = "whsec_c2VydmljZWJheS10ZXN0LXNlY3JldA=="
DOCS = Path(__file__).parents[2] / "docs" / "pipelines.md"


def _example() -> str:
    return DOCS.read_text().split("```yaml\n", 1)[1].split("```", 1)[0]


def _run(database_url: str, tmp_path: Path, *args: str) -> Result:
    env = {
        "SERVICEBAY_DATABASE_URL": database_url,
        "SERVICEBAY_DATA_DIR": str(tmp_path),
        "SERVICEBAY_CATALOG_SECRET_VARIABLES": '["DATABASE_HOOK_SECRET"]',
        "DATABASE_HOOK_SECRET": SECRET,
    }
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def _folder(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "catalog"
    folder.mkdir(exist_ok=True)
    (folder / "database.yaml").write_text(text)
    return folder


def test_the_documented_three_step_pipeline_applies_and_round_trips(
    db: Session, database_url: str, tmp_path: Path
) -> None:
    make_team(db, "platform")
    db.commit()
    applied = _run(database_url, tmp_path, "catalog", "apply", str(_folder(tmp_path, _example())))
    assert applied.exit_code == 0, applied.output
    offering = db.scalars(select(Offering).where(Offering.slug == "team-database")).one()
    pipeline = service.fulfilment_of(service.head_version(db, offering))
    assert isinstance(pipeline, PipelineFulfilment)
    assert [step.name for step in pipeline.steps] == ["provision", "register", "hand_over"]
    assert service.head_version(db, offering).webhook_secret == SECRET
    db.rollback()

    exported = tmp_path / "exported"
    assert _run(database_url, tmp_path, "catalog", "export", str(exported)).exit_code == 0
    again = _run(database_url, tmp_path, "catalog", "apply", "--dry-run", str(exported))
    assert again.exit_code == 0, again.output
    assert "no change" in again.output.lower() or "unchanged" in again.output.lower()


def test_a_file_whose_template_names_an_unknown_output_is_refused_naming_step_and_output(
    db: Session, database_url: str, tmp_path: Path
) -> None:
    make_team(db, "platform")
    db.commit()
    broken = _example().replace("steps.provision.outputs.port", "steps.provision.outputs.prot")
    refused = _run(database_url, tmp_path, "catalog", "apply", str(_folder(tmp_path, broken)))
    assert refused.exit_code != 0
    assert "step 2 (register)" in refused.output
    assert "'prot'" in refused.output
    assert db.scalars(select(Offering)).first() is None
