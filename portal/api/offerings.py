"""Offerings in the JSON API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from servicebay.catalog import forms
from servicebay.catalog import service as catalog_service
from servicebay.catalog.models import Offering
from servicebay.catalog.schemas import (
    ApprovalPolicy,
    OfferingIn,
    OfferingOut,
    OfferingStatus,
    RequestForm,
    ServiceLevel,
    WorkKind,
)
from servicebay.portal.deps import ApiUser, DbSession, require_scope

router = APIRouter(tags=["offerings"])


def offering_out(offering: Offering) -> OfferingOut:
    version = offering.current_version
    sle = (
        ServiceLevel(percent=version.sle_percent, within_hours=version.sle_hours)
        if version and version.sle_percent and version.sle_hours
        else None
    )
    return OfferingOut(
        slug=offering.slug,
        name=offering.name,
        summary=offering.summary,
        description=offering.description,
        category=offering.category,
        tags=list(offering.tags),
        owner_team=offering.owner_team.slug,
        contact=offering.contact,
        runbook_url=offering.runbook_url,
        work_kind=WorkKind(offering.work_kind),
        status=OfferingStatus(offering.status),
        version=version.number if version else 0,
        form=catalog_service.form_of(version) if version else RequestForm(),
        approval_policy=ApprovalPolicy.model_validate(version.approval_policy if version else {}),
        fulfilment=dict(version.fulfilment) if version else {},
        sle=sle,
        cost=version.cost if version else 0.0,
        created_at=offering.created_at,
    )


@router.get("/offerings", response_model=list[OfferingOut])
def list_offerings(db: DbSession, user: ApiUser, q: str = "") -> list[OfferingOut]:
    return [offering_out(o) for o in catalog_service.list_published(db, query=q)]


@router.post("/offerings", response_model=OfferingOut, status_code=201)
def create_offering(
    request: Request, definition: OfferingIn, db: DbSession, user: ApiUser
) -> OfferingOut:
    require_scope(request, "ops")
    offering = catalog_service.create_offering(db, actor=user, definition=definition)
    return offering_out(offering)


@router.get("/offerings/{slug}", response_model=OfferingOut)
def get_offering(slug: str, db: DbSession, user: ApiUser) -> OfferingOut:
    return offering_out(catalog_service.get_offering(db, slug=slug, viewer=user))


@router.post("/offerings/{slug}/publish", response_model=OfferingOut)
def publish_offering(request: Request, slug: str, db: DbSession, user: ApiUser) -> OfferingOut:
    require_scope(request, "ops")
    offering = catalog_service.get_offering(db, slug=slug, viewer=user)
    return offering_out(catalog_service.publish(db, actor=user, offering=offering))


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
