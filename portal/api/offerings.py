"""Offerings in the JSON API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from servicebay.catalog import as_code, forms, search
from servicebay.catalog import service as catalog_service
from servicebay.catalog.schemas import (
    REASON_MAX,
    SLUG_MAX,
    DryRunOut,
    FieldOptionsOut,
    OfferingIn,
    OfferingOut,
    Readiness,
    RequestForm,
    VersionOut,
)
from servicebay.core.outbound import OutboundPolicy
from servicebay.core.settings import Settings
from servicebay.portal.deps import (
    ApiUser,
    AppSettings,
    DbSession,
    FormOptions,
    limit_rate,
    require_scope,
)
from servicebay.requests import service as requests_service

router = APIRouter(tags=["offerings"])


def outbound_policy(settings: Settings) -> OutboundPolicy:
    return OutboundPolicy.from_settings(settings)


class OfferingPage(BaseModel):
    items: list[OfferingOut]
    total: int
    page: int
    per_page: int
    did_you_mean: str | None = Field(
        default=None, description="On a search that found nothing: a query that finds something"
    )


@router.get("/offerings", response_model=OfferingPage)
def list_offerings(
    request: Request,
    db: DbSession,
    user: ApiUser,
    settings: AppSettings,
    q: str = "",
    category: str = "",
    team: str = "",
    tag: str = "",
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> OfferingPage:
    """Ranked search and browse; every search is recorded for demand analytics."""
    if q.strip():
        limit_rate(
            request, db, action="searches", limit=settings.rate_limit_search, who=f"user:{user.id}"
        )
    found = search.search(
        db,
        viewer=user,
        query=q,
        filters=search.Filters(category=category, team=team, tag=tag),
        page=page,
        per_page=per_page,
    )
    drafts = catalog_service.draft_numbers(db, [offering.id for offering in found.offerings])
    return OfferingPage(
        items=[
            catalog_service.offering_out(db, o, viewer=user, drafts=drafts) for o in found.offerings
        ],
        total=found.total,
        page=found.page,
        per_page=found.per_page,
        did_you_mean=found.did_you_mean or None,
    )


@router.post("/offerings", response_model=OfferingOut, status_code=201)
def create_offering(
    request: Request, definition: OfferingIn, db: DbSession, user: ApiUser
) -> OfferingOut:
    require_scope(request, "ops")
    offering = catalog_service.create_offering(db, actor=user, definition=definition)
    return catalog_service.offering_out(db, offering, viewer=user)


@router.get("/offerings/{slug}", response_model=OfferingOut)
def get_offering(slug: str, db: DbSession, user: ApiUser) -> OfferingOut:
    offering = catalog_service.get_offering(db, slug=slug, viewer=user)
    return catalog_service.offering_out(db, offering, viewer=user)


@router.put("/offerings/{slug}", response_model=OfferingOut)
def update_offering(
    request: Request, slug: str, definition: OfferingIn, db: DbSession, user: ApiUser
) -> OfferingOut:
    """Save into the draft version (a published version is never changed)."""
    require_scope(request, "ops")
    offering = catalog_service.get_offering(db, slug=slug, viewer=user)
    catalog_service.update_offering(db, actor=user, offering=offering, definition=definition)
    return catalog_service.offering_out(db, offering, viewer=user)


class PublishIn(BaseModel):
    override_reason: str | None = Field(
        default=None,
        max_length=REASON_MAX,
        description="Admins only: publish past failing readiness checks",
    )


@router.post("/offerings/{slug}/publish", response_model=OfferingOut)
def publish_offering(
    request: Request,
    slug: str,
    db: DbSession,
    user: ApiUser,
    body: PublishIn | None = None,
) -> OfferingOut:
    require_scope(request, "ops")
    offering = catalog_service.get_offering(db, slug=slug, viewer=user)
    reason = body.override_reason if body else None
    catalog_service.publish(db, actor=user, offering=offering, override_reason=reason)
    return catalog_service.offering_out(db, offering, viewer=user)


class DeprecateIn(BaseModel):
    replacement: str | None = Field(default=None, max_length=SLUG_MAX)
    notice: str = Field(default="", max_length=REASON_MAX)


@router.post("/offerings/{slug}/deprecate", response_model=OfferingOut)
def deprecate_offering(
    request: Request, slug: str, db: DbSession, user: ApiUser, body: DeprecateIn | None = None
) -> OfferingOut:
    require_scope(request, "ops")
    offering = catalog_service.get_offering(db, slug=slug, viewer=user)
    body = body or DeprecateIn()
    catalog_service.deprecate(
        db, actor=user, offering=offering, replacement=body.replacement, notice=body.notice
    )
    return catalog_service.offering_out(db, offering, viewer=user)


@router.post("/offerings/{slug}/retire", response_model=OfferingOut)
def retire_offering(request: Request, slug: str, db: DbSession, user: ApiUser) -> OfferingOut:
    require_scope(request, "ops")
    offering = catalog_service.get_offering(db, slug=slug, viewer=user)
    catalog_service.retire(db, actor=user, offering=offering)
    return catalog_service.offering_out(db, offering, viewer=user)


@router.get("/offerings/{slug}/readiness", response_model=Readiness)
def offering_readiness(slug: str, db: DbSession, user: ApiUser) -> Readiness:
    offering = catalog_service.get_for_edit(db, slug=slug, actor=user)
    return catalog_service.readiness_of(db, offering)


@router.post("/offerings/{slug}/test-fulfilment", response_model=DryRunOut)
def test_fulfilment(
    request: Request, slug: str, db: DbSession, user: ApiUser, settings: AppSettings
) -> DryRunOut:
    """Send a test event to the newest version's webhook or plugin; record the outcome."""
    require_scope(request, "ops")
    offering = catalog_service.get_for_edit(db, slug=slug, actor=user)
    version = catalog_service.test_fulfilment(
        db, actor=user, offering=offering, outbound=outbound_policy(settings)
    )
    assert version.dry_run_at is not None
    return DryRunOut(
        version=version.number,
        passed=version.dry_run_status == "passed",
        message=version.dry_run_message,
        at=version.dry_run_at,
    )


@router.get("/offerings/{slug}/versions", response_model=list[VersionOut])
def offering_versions(slug: str, db: DbSession, user: ApiUser) -> list[VersionOut]:
    offering = catalog_service.get_for_edit(db, slug=slug, actor=user)
    return [
        VersionOut(
            number=v.number,
            status=v.status,
            created_at=v.created_at,
            published_at=v.published_at,
            dry_run_status=v.dry_run_status,
        )
        for v in catalog_service.versions_of(db, offering)
    ]


@router.get("/offerings/{slug}/versions/{number}/definition")
def offering_version_definition(
    slug: str, number: int, db: DbSession, user: ApiUser
) -> dict[str, Any]:
    """A version's definition (never its secret)."""
    offering = catalog_service.get_for_edit(db, slug=slug, actor=user)
    version = catalog_service.get_version(db, offering, number)
    definition = catalog_service.definition_of(offering, version)
    return definition.model_dump(mode="json", exclude={"webhook_secret"})


@router.get("/offerings/{slug}/diff", response_model=list[str])
def offering_diff(slug: str, older: int, newer: int, db: DbSession, user: ApiUser) -> list[str]:
    """A unified diff between two versions' definitions."""
    offering = catalog_service.get_for_edit(db, slug=slug, actor=user)
    return as_code.diff(
        offering,
        catalog_service.get_version(db, offering, older),
        catalog_service.get_version(db, offering, newer),
    )


@router.get("/offerings/{slug}/schema")
def offering_schema(slug: str, db: DbSession, user: ApiUser) -> dict[str, Any]:
    """The request form as JSON Schema."""
    offering = catalog_service.get_offering(db, slug=slug, viewer=user)
    form = (
        catalog_service.form_of(offering.current_version)
        if offering.current_version
        else RequestForm()
    )
    return forms.json_schema(form, title=offering.name)


@router.get("/offerings/{slug}/fields/{field_name}/options", response_model=FieldOptionsOut)
def list_field_options(
    request: Request, slug: str, field_name: str, db: DbSession, user: ApiUser, live: FormOptions
) -> FieldOptionsOut:
    """A choice field's options for the answers given so far, sent as query parameters
    (`?environment=production`; a multiselect's values repeated). For a field with a live
    source these are the options a request may take now."""
    inputs: dict[str, Any] = {}
    for name in request.query_params:
        values = request.query_params.getlist(name)
        inputs[name] = values[0] if len(values) == 1 else values
    found = requests_service.field_options(
        db, viewer=user, offering_slug=slug, field_name=field_name, inputs=inputs, live=live
    )
    return FieldOptionsOut.model_validate(found)
