"""Consumer pages of the catalog: home with search, offering page with its request form."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from servicebay.analytics import adoption, sle
from servicebay.catalog import browse, search
from servicebay.catalog import demand as demand_service
from servicebay.catalog import service as catalog_service
from servicebay.catalog.errors import InputsInvalid
from servicebay.catalog.live_options import LiveOptions
from servicebay.catalog.schemas import FieldType, RequestForm
from servicebay.core.cache import PerDatabase
from servicebay.core.identity import User
from servicebay.portal.deps import (
    AppSettings,
    DbSession,
    FormOptions,
    PageUser,
    SubmittedForm,
    limit_rate,
)
from servicebay.portal.render import is_htmx, render, render_part, see_other, url_of
from servicebay.requests import service as requests_service
from servicebay.requests.errors import OfferingNotRequestable
from servicebay.requests.models import Request as ServiceRequest

router = APIRouter()


@router.get("/", name="home")
def home(
    request: Request,
    db: DbSession,
    user: PageUser,
    settings: AppSettings,
    q: str = "",
    category: str = "",
    team: str = "",
    tag: str = "",
    page: int = 1,
) -> Response:
    if q.strip():
        limit_rate(
            request, db, action="searches", limit=settings.rate_limit_search, who=f"user:{user.id}"
        )
    filters = search.Filters(category=category, team=team, tag=tag)
    page = max(1, page)
    browsing = not q.strip() and not filters.as_dict() and page == 1
    outline = browse.snapshot(db)
    # Viewers who may see the same offerings see the same parts, links included.
    seeing = (tuple(listed.id for listed in outline.restricted_for(user)), str(request.base_url))

    def results() -> tuple[Markup, int]:
        found = search.find(db, viewer=user, query=q, filters=filters, page=page, cards_only=True)
        context = {
            "found": found,
            "offerings": found.offerings,
            "q": q,
            "filters": filters,
            "browsing": browsing,
            "page_link": lambda number, query=q: _page_link(query, filters, number),
        }
        return render_part(request, "catalog/_results.html", context), found.total

    results_html, total = _rendered_results.get(
        db, outline.token, results, slot=(seeing, q, filters, page)
    )
    search.record(db, viewer=user, query=q, filters=filters, results=total)
    # While a query or a filter is active, what it finds takes the showcase's place.
    context: dict[str, Any] = {
        "results": results_html,
        "showcase": _showcase(request, db, outline, user, seeing) if browsing else "",
    }
    if not is_htmx(request):
        context |= {
            "search_form": _search_forms.get(
                db,
                outline.token,
                lambda: _search_form(request, outline, user, q, filters),
                slot=(seeing, q, filters),
            ),
            "my_requests": _open_requests_of(db, user),
            "top_demands": demand_service.top(db),
        }
    return render(request, "catalog/home.html", context, block="finds")


# Parts of the home page that are the same for everyone who may see the same offerings,
# kept until the catalog changes (the showcase's request counts for a minute).
_rendered_results: PerDatabase[tuple[Markup, int]] = PerDatabase(max_slots=5_000)  # and total
_search_forms: PerDatabase[Markup] = PerDatabase(max_slots=5_000)
_showcases: PerDatabase[Markup] = PerDatabase(
    max_age=browse.RECENT_FIGURES_MAX_AGE_SECONDS, max_slots=1_000
)


def _search_form(
    request: Request,
    outline: browse.Snapshot,
    user: User,
    q: str,
    filters: search.Filters,
) -> Markup:
    context = {
        "facets": outline.facet_choices(user),
        "q": q,
        "filters": filters,
    }
    return render_part(request, "catalog/_search_form.html", context)


def _showcase(
    request: Request, db: Session, outline: browse.Snapshot, user: User, seeing: Hashable
) -> Markup:
    def rendered() -> Markup:
        context = {
            "popular": browse.popular(
                db,
                user,
                outline,
                counts=adoption.most_requested(db, catalog_token=outline.token),
            ),
            "newest": browse.newest(db, user, outline),
            "categories": outline.category_counts(user),
        }
        return render_part(request, "catalog/_showcase.html", context)

    return _showcases.get(db, outline.token, rendered, slot=seeing)


def _open_requests_of(db: Session, user: User) -> list[ServiceRequest]:
    return requests_service.open_for_requester(db, requester=user, limit=6)


def _page_link(q: str, filters: search.Filters, number: int) -> str:
    return "/?" + urlencode({"q": q, **filters.as_dict(), "page": number})


@router.get("/offerings/{slug}", name="offering_page")
def offering_page(
    request: Request, slug: str, db: DbSession, user: PageUser, live: FormOptions
) -> Response:
    offering = catalog_service.get_offering(db, slug=slug, viewer=user)
    # Live options are fetched before the view is recorded: on SQLite a write holds the
    # database's one write lock until the response, and a slow source must not hold it.
    response = _offering_response(request, db, offering, user, live, values={}, problems={})
    catalog_service.record_view(db, offering=offering, viewer=user)
    return response


@router.get("/offerings/{slug}/fields/{field_name}/options", name="field_options")
def field_options(
    request: Request,
    slug: str,
    field_name: str,
    db: DbSession,
    user: PageUser,
    live: FormOptions,
) -> Response:
    """One choice field with its options for the answers in the query (the form's current
    values): what the form swaps in as the fields it depends on change."""
    offering = catalog_service.get_offering(db, slug=slug, viewer=user)
    version = offering.current_version
    form = catalog_service.form_of(version) if version else RequestForm()
    inputs = inputs_from_form(form, query_as_form(request))
    found = requests_service.field_options(
        db, viewer=user, offering_slug=slug, field_name=field_name, inputs=inputs, live=live
    )
    context = {
        "form_field": next(f for f in form.fields if f.name == field_name),
        "value": inputs.get(field_name),
        "live": found,
        "options_url": url_of(request, "field_options", slug=slug, field_name=field_name),
    }
    return render(request, "catalog/_field_options.html", context)


def query_as_form(request: Request) -> FormData:
    """The query string read as a submitted form (repeated names for multiselects)."""
    items: list[tuple[str, str | UploadFile]] = list(request.query_params.multi_items())
    return FormData(items)


def _offering_response(
    request: Request,
    db: Session,
    offering: Any,
    user: User,
    live: LiveOptions,
    *,
    values: dict[str, Any],
    problems: dict[str, str],
    status_code: int = 200,
    notice: str = "",
) -> Response:
    version = offering.current_version
    form = catalog_service.form_of(version) if version else RequestForm()
    context = {
        "live": requests_service.live_choices(form, viewer=user, inputs=values, live=live),
        "offering": offering,
        "version": version,
        "form": form,
        "performance": sle.performance(db, offering=offering, version=version),
        "steps": catalog_service.policy_of(version).steps if version else [],
        "values": values,
        "problems": problems,
        "notice": notice,
    }
    return render(
        request,
        "catalog/offering_detail.html",
        context,
        block="request_form",
        status_code=status_code,
    )


def inputs_from_form(form: RequestForm, data: FormData) -> dict[str, Any]:
    """HTML form values as request inputs, by each field's type."""
    inputs: dict[str, Any] = {}
    for form_field in form.fields:
        if form_field.type is FieldType.MULTISELECT:
            chosen = [v for v in data.getlist(form_field.name) if isinstance(v, str)]
            if chosen:
                inputs[form_field.name] = chosen
        elif form_field.type is FieldType.BOOLEAN:
            inputs[form_field.name] = data.get(form_field.name) == "on"
        else:
            value = data.get(form_field.name)
            if isinstance(value, str) and value.strip():
                inputs[form_field.name] = value
    return inputs


@router.post("/offerings/{slug}/request", name="offering_request")
def offering_request(
    request: Request,
    slug: str,
    db: DbSession,
    user: PageUser,
    data: SubmittedForm,
    settings: AppSettings,
    live: FormOptions,
) -> Response:
    limit_rate(
        request, db, action="submissions", limit=settings.rate_limit_submit, who=f"user:{user.id}"
    )
    offering = catalog_service.get_offering(db, slug=slug, viewer=user)
    form = (
        catalog_service.form_of(offering.current_version)
        if offering.current_version
        else RequestForm()
    )
    inputs = inputs_from_form(form, data)
    try:
        created = requests_service.submit(
            db, actor=user, offering_slug=slug, inputs=inputs, live=live
        )
    except InputsInvalid as invalid:
        return _offering_response(
            request,
            db,
            offering,
            user,
            live,
            values=inputs,
            problems=invalid.problems,
            status_code=422,
        )
    except OfferingNotRequestable as refused:
        return _offering_response(
            request,
            db,
            offering,
            user,
            live,
            values=inputs,
            problems={},
            status_code=409,
            notice=str(refused),
        )
    return see_other(request, str(url_of(request, "request_page", request_id=created.id)))
