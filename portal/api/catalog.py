"""Catalog-as-code in the JSON API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, StrictBool

from servicebay.catalog import as_code
from servicebay.portal.deps import ApiUser, DbSession, require_scope

router = APIRouter(tags=["catalog-as-code"])


class ApplyIn(BaseModel):
    files: dict[
        Annotated[str, Field(max_length=1_000)],
        Annotated[str, Field(max_length=as_code.MAX_FILE_CHARACTERS)],
    ] = Field(
        max_length=as_code.MAX_FILES,
        description="File name → YAML text, one offering per file",
    )
    dry_run: StrictBool = False


class PlanEntryOut(BaseModel):
    slug: str
    action: str
    file: str
    changes: list[str]


class PlanOut(BaseModel):
    dry_run: bool
    summary: str
    entries: list[PlanEntryOut]


@router.post("/catalog/apply", response_model=PlanOut)
def apply_catalog(request: Request, body: ApplyIn, db: DbSession, user: ApiUser) -> PlanOut:
    """Bring the catalog to the files (all or nothing); with dry_run, only say what would change."""
    require_scope(request, "ops")
    secrets = as_code.SecretSource.allow_listed(request.app.state.settings.catalog_secret_variables)
    plan = as_code.apply(db, actor=user, files=body.files, dry_run=body.dry_run, secrets=secrets)
    return PlanOut(
        dry_run=body.dry_run,
        summary=plan.summary(),
        entries=[
            PlanEntryOut(slug=e.slug, action=e.action, file=e.file, changes=list(e.changes))
            for e in plan.entries
        ],
    )
