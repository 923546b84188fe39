"""The ops workspace for offerings: list, editor with live preview, scorecard, lifecycle."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from servicebay.catalog import as_code, policies, readiness
from servicebay.catalog import service as catalog_service
from servicebay.catalog.errors import CatalogError, InvalidOffering, NotReady, OfferingConflict
from servicebay.catalog.models import Offering
from servicebay.catalog.schemas import Decider, FieldType, OfferingIn, RequestForm, WorkKind
from servicebay.core.identity import User
from servicebay.core.outbound import OutboundPolicy
from servicebay.portal.deps import AppSettings, DbSession, PageUser, SubmittedForm
from servicebay.portal.pages.paging import paginate
from servicebay.portal.render import render, see_other, url_of

router = APIRouter(prefix="/ops")

BLANK_FIELD_ROWS = 2
FIELD_KEYS = ("label", "help", "placeholder", "pattern", "min_date", "max_date")
NUMBER_KEYS = ("min", "max", "min_length", "max_length")
LIVE_OPTION_KEYS = ("url", "items", "value", "label", "cache_seconds", "timeout_seconds")


@router.get("/offerings", name="ops_offerings")
def ops_offerings(
    request: Request, db: DbSession, user: PageUser, q: str = "", page: int = 1
) -> Response:
    paged = paginate(
        db,
        catalog_service.for_ops(user, name=q),
        number=page,
        base=str(url_of(request, "ops_offerings")),
        params={"q": q},
    )
    rows = [
        {
            "offering": offering,
            "head": (head := catalog_service.head_version(db, offering)),
            "readiness": readiness.assess(offering, head),
        }
        for offering in paged.rows
    ]
    context = {"rows": rows, "paged": paged, "q": q}
    return render(request, "catalog/offering_list.html", context, block="results")


@router.get("/offerings/new", name="ops_offering_new")
def ops_offering_new(request: Request, user: PageUser) -> Response:
    teams = _teams_of(user)
    draft: dict[str, Any] = {
        "owner_team": teams[0] if teams else "",
        "fulfilment": {"kind": "manual"},
        "form": {"fields": []},
        "approval_policy": {"steps": []},
    }
    return _editor(request, None, draft, user=user)


@router.post("/offerings/new", name="ops_offering_create")
def ops_offering_create(
    request: Request, db: DbSession, user: PageUser, data: SubmittedForm
) -> Response:
    draft = definition_from_form(data)
    try:
        definition = OfferingIn.model_validate(draft)
        offering = catalog_service.create_offering(db, actor=user, definition=definition)
    except ValidationError as invalid:
        return _editor(
            request, None, draft, user=user, problems=catalog_service.problems_of(invalid)
        )
    except (InvalidOffering, OfferingConflict) as refused:
        db.rollback()
        return _editor(request, None, draft, user=user, problems=_problems(refused))
    return _see(request, offering.slug, "Created draft version 1.")


@router.get("/offerings/{slug}", name="ops_offering_edit")
def ops_offering_edit(request: Request, slug: str, db: DbSession, user: PageUser) -> Response:
    offering = catalog_service.get_for_edit(db, slug=slug, actor=user)
    head = catalog_service.head_version(db, offering)
    draft = catalog_service.definition_of(offering, head).model_dump(mode="json", by_alias=True)
    return _editor(request, offering, draft, user=user, db=db)


@router.post("/offerings/{slug}", name="ops_offering_save")
def ops_offering_save(
    request: Request, slug: str, db: DbSession, user: PageUser, data: SubmittedForm
) -> Response:
    offering = catalog_service.get_for_edit(db, slug=slug, actor=user)
    draft = definition_from_form(data, slug=offering.slug, owner_team=offering.owner_team.slug)
    try:
        definition = OfferingIn.model_validate(draft)
        catalog_service.update_offering(db, actor=user, offering=offering, definition=definition)
    except ValidationError as invalid:
        problems = catalog_service.problems_of(invalid)
        return _editor(request, offering, draft, user=user, db=db, problems=problems)
    except (InvalidOffering, OfferingConflict) as refused:
        db.rollback()
        return _editor(request, offering, draft, user=user, db=db, problems=_problems(refused))
    return _see(request, offering.slug, "Saved.")


@router.post("/offerings/{slug}/preview", name="ops_offering_preview")
def ops_offering_preview(
    request: Request, slug: str, db: DbSession, user: PageUser, data: SubmittedForm
) -> Response:
    """The consumer's form as the editor's unsaved fields would make it (htmx)."""
    if slug != "new":
        catalog_service.get_for_edit(db, slug=slug, actor=user)
    draft = definition_from_form(data)
    try:
        form = RequestForm.model_validate(draft["form"])
        problems: dict[str, str] = {}
    except ValidationError as invalid:
        form = RequestForm()
        problems = {
            f"form.{path}": message
            for path, message in catalog_service.problems_of(invalid).items()
        }
    context = {"preview_form": form, "preview_problems": problems, "draft": draft}
    return render(request, "catalog/offering_edit.html", context, block="preview")


@router.post("/offerings/{slug}/test-fulfilment", name="ops_offering_test")
def ops_offering_test(
    request: Request, slug: str, db: DbSession, user: PageUser, settings: AppSettings
) -> Response:
    offering = catalog_service.get_for_edit(db, slug=slug, actor=user)
    outbound = OutboundPolicy.from_settings(settings)
    version = catalog_service.test_fulfilment(db, actor=user, offering=offering, outbound=outbound)
    verdict = "passed" if version.dry_run_status == "passed" else "failed"
    return _see(request, offering.slug, f"Test fulfilment {verdict}: {version.dry_run_message}")


@router.post("/offerings/{slug}/publish", name="ops_offering_publish")
def ops_offering_publish(
    request: Request, slug: str, db: DbSession, user: PageUser, data: SubmittedForm
) -> Response:
    offering = catalog_service.get_for_edit(db, slug=slug, actor=user)
    reason = str(data.get("override_reason") or "").strip() or None
    try:
        catalog_service.publish(db, actor=user, offering=offering, override_reason=reason)
    except (NotReady, OfferingConflict) as refused:
        db.rollback()
        head = catalog_service.head_version(db, offering)
        draft = catalog_service.definition_of(offering, head).model_dump(mode="json", by_alias=True)
        return _editor(
            request, offering, draft, user=user, db=db, refusal=str(refused), status_code=409
        )
    number = offering.current_version.number if offering.current_version else 0
    return _see(request, offering.slug, f"Published version {number}.")


@router.post("/offerings/{slug}/deprecate", name="ops_offering_deprecate")
def ops_offering_deprecate(
    request: Request, slug: str, db: DbSession, user: PageUser, data: SubmittedForm
) -> Response:
    offering = catalog_service.get_for_edit(db, slug=slug, actor=user)
    catalog_service.deprecate(
        db,
        actor=user,
        offering=offering,
        replacement=str(data.get("replacement") or "").strip() or None,
        notice=str(data.get("notice") or ""),
    )
    return _see(request, offering.slug, "Deprecated: no new requests are taken.")


@router.post("/offerings/{slug}/retire", name="ops_offering_retire")
def ops_offering_retire(request: Request, slug: str, db: DbSession, user: PageUser) -> Response:
    offering = catalog_service.get_for_edit(db, slug=slug, actor=user)
    catalog_service.retire(db, actor=user, offering=offering)
    return _see(request, offering.slug, "Retired: gone from the portal.")


@router.get("/offerings/{slug}/diff", name="ops_offering_diff")
def ops_offering_diff(
    request: Request, slug: str, db: DbSession, user: PageUser, older: int, newer: int
) -> Response:
    offering = catalog_service.get_for_edit(db, slug=slug, actor=user)
    lines = as_code.diff(
        offering,
        catalog_service.get_version(db, offering, older),
        catalog_service.get_version(db, offering, newer),
    )
    context = {"offering": offering, "older": older, "newer": newer, "lines": lines}
    return render(request, "catalog/offering_diff.html", context)


# --- the editor ----------------------------------------------------------------


def _editor(
    request: Request,
    offering: Offering | None,
    draft: dict[str, Any],
    *,
    user: User,
    db: Session | None = None,
    problems: dict[str, str] | None = None,
    refusal: str = "",
    status_code: int | None = None,
) -> Response:
    context: dict[str, Any] = {
        "offering": offering,
        "draft": draft,
        "rows": _field_rows(draft),
        "steps": [*draft.get("approval_policy", {}).get("steps", []), {}],
        "problems": problems or {},
        "refusal": refusal,
        "teams": _teams_of(user),
        "field_types": [t.value for t in FieldType],
        "deciders": [d.value for d in Decider],
        "work_kinds": [k.value for k in WorkKind],
        "can_lead": offering is not None and policies.can_publish_offering(user, offering),
        "preview_form": _valid_form(draft),
        "preview_problems": {},
        "instances_text": _instances_text(draft.get("instances")),
    }
    if offering is not None and db is not None:
        head = catalog_service.head_version(db, offering)
        context.update(
            head=head,
            scorecard=readiness.assess(offering, head),
            versions=catalog_service.versions_of(db, offering),
            lifecycle=catalog_service.lifecycle_of(db, offering, actor=user),
            secret_set=bool(head.webhook_secret),
        )
    code = status_code or (422 if problems else 200)
    return render(request, "catalog/offering_edit.html", context, status_code=code)


def _instances_text(instances: Any) -> str:
    """The instances section as the editor's text box shows it: the YAML of a catalog file."""
    if not instances:
        return ""
    if isinstance(instances, str):
        return instances
    return as_code.dump(instances)


def _see(request: Request, slug: str, notice: str) -> Response:
    """Back to the editor, with the notice as the server's own flash message."""
    return see_other(request, str(url_of(request, "ops_offering_edit", slug=slug)), notice=notice)


def _problems(error: CatalogError) -> dict[str, str]:
    problems = getattr(error, "problems", None)
    return dict(problems) if isinstance(problems, dict) else {"offering": str(error)}


def _teams_of(user: User) -> list[str]:
    return [membership.team.slug for membership in user.memberships]


def _valid_form(draft: dict[str, Any]) -> RequestForm:
    try:
        return RequestForm.model_validate(draft.get("form", {}))
    except ValidationError:
        return RequestForm()


def _field_rows(draft: dict[str, Any]) -> list[dict[str, Any]]:
    fields = list(draft.get("form", {}).get("fields", []))
    return fields + [{} for _ in range(BLANK_FIELD_ROWS)]


def definition_from_form(
    data: FormData, *, slug: str | None = None, owner_team: str | None = None
) -> dict[str, Any]:
    """The editor's inputs as an offering definition (validated by the caller)."""

    def text(name: str) -> str:
        value = data.get(name)
        return value.strip() if isinstance(value, str) else ""

    def number(name: str) -> Any:
        value = text(name)
        return value or None

    def words(name: str) -> list[str]:
        return [part.strip() for part in text(name).split(",") if part.strip()]

    draft: dict[str, Any] = {
        "slug": slug or text("slug"),
        "name": text("name"),
        "summary": text("summary"),
        "description": data.get("description") or "",
        "category": text("category") or "General",
        "tags": words("tags"),
        "keywords": words("keywords"),
        "owner_team": owner_team or text("owner_team"),
        "contact": text("contact"),
        "runbook_url": text("runbook_url"),
        "work_kind": text("work_kind") or "standard",
        "visibility": words("visibility"),
        "no_input_needed": data.get("no_input_needed") == "on",
        "form": {"fields": _fields_from_form(data)},
        "approval_policy": {"steps": _steps_from_form(data)},
        "fulfilment": _fulfilment_from_form(data),
        "cost": number("cost") or 0,
        "manual_effort_minutes": number("manual_effort_minutes") or 0,
    }
    if number("sle_percent") or number("sle_hours"):
        draft["sle"] = {"percent": number("sle_percent"), "within_hours": number("sle_hours")}
    if number("quota_count"):
        draft["quota"] = {
            "count": number("quota_count"),
            "period_days": number("quota_period_days") or 30,
        }
    if text("instances"):
        draft["instances"] = text("instances")  # YAML, read by the definition's schema
    secret = data.get("webhook_secret")
    if isinstance(secret, str) and secret:
        draft["webhook_secret"] = secret
    return draft


def _rows(data: FormData, prefix: str) -> list[int]:
    indexes = {
        int(key.split("-")[1])
        for key in data
        if key.startswith(prefix + "-") and key.split("-")[1].isdigit()
    }
    return sorted(indexes)


def _fields_from_form(data: FormData) -> list[dict[str, Any]]:
    fields: list[dict[str, Any]] = []
    for index in _rows(data, "field"):

        def get(key: str, index: int = index) -> str:
            value = data.get(f"field-{index}-{key}")
            return value.strip() if isinstance(value, str) else ""

        name = get("name")
        if not name:
            continue
        field: dict[str, Any] = {"name": name, "label": get("label") or name, "type": get("type")}
        field["required"] = get("required") == "on"
        if get("not_in_past") == "on":
            field["not_in_past"] = True
        for key in FIELD_KEYS:
            if get(key):
                field[key] = get(key)
        for key in NUMBER_KEYS:
            if get(key):
                field[key] = get(key)
        if get("options"):
            field["options"] = [o.strip() for o in get("options").split(",") if o.strip()]
        if get("options_url"):
            field["options_from"] = {
                key: get(f"options_{key}") for key in LIVE_OPTION_KEYS if get(f"options_{key}")
            }
        if get("default"):
            field["default"] = get("default")
        if get("show_if_field"):
            field["show_if"] = {"field": get("show_if_field"), "equals": get("show_if_value")}
        fields.append(field)
    return fields


def _steps_from_form(data: FormData) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    for index in _rows(data, "step"):
        values = {
            key: str(data.get(f"step-{index}-{key}") or "").strip()
            for key in ("name", "decider", "team", "condition")
        }
        if not values["name"]:
            continue
        steps.append({key: value for key, value in values.items() if value})
    return steps


def _fulfilment_from_form(data: FormData) -> dict[str, Any]:
    kind = str(data.get("fulfilment_kind") or "manual")
    if kind == "pipeline":
        raw_steps = str(data.get("pipeline_steps") or "").strip() or "[]"
        try:
            steps: Any = json.loads(raw_steps)
        except json.JSONDecodeError:
            steps = raw_steps  # refused by validation with a message naming the place
        return {"kind": "pipeline", "steps": steps}
    if kind == "webhook":
        spec: dict[str, Any] = {"kind": "webhook", "url": str(data.get("webhook_url") or "")}
        for key in ("timeout_seconds", "max_attempts"):
            value = str(data.get(key) or "").strip()
            if value:
                spec[key] = value
        return spec
    if kind == "plugin":
        raw = str(data.get("plugin_settings") or "").strip() or "{}"
        try:
            settings: Any = json.loads(raw)
        except json.JSONDecodeError:
            settings = raw  # refused by validation with a message naming the place
        return {"kind": "plugin", "plugin": str(data.get("plugin") or ""), "settings": settings}
    checklist = [
        line.strip() for line in str(data.get("checklist") or "").splitlines() if line.strip()
    ]
    return {"kind": "manual", "checklist": checklist}
