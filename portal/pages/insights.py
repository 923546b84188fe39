"""Insights for product owners and ops teams: charts, each beside its numbers as a table.

Every number that counts requests links to the requests behind it. Analysts see every
offering; team leads and members see their own teams' offerings. The pages only read,
from the analytics database when one is configured (a replica).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from servicebay.analytics import digest, drill, health, reports, summary, versions
from servicebay.analytics.percentiles import percentiles
from servicebay.analytics.scope import reads_insights, visible_offerings, visible_teams
from servicebay.core.identity import User
from servicebay.portal.deps import AnalyticsSession, DbSession, PageUser, SubmittedForm
from servicebay.portal.pages.paging import paginate_list
from servicebay.portal.render import render, see_other, url_of

router = APIRouter()

# A page shows at most this many rows of a table (the CSV export has all of them), and a
# scatter at most this many points (the most recent); percentiles always use every row.
ROWS_SHOWN = 500
# Offering health shows this many offerings a page, those needing a decision first.
HEALTH_SHOWN = 10
POINTS_SHOWN = 2000

SECTIONS: dict[str, tuple[str, list[str]]] = {
    "adoption": ("Adoption and rejection", ["adoption", "rejection", "adoption-by-team"]),
    "flow": (
        "Flow",
        [
            "percentiles",
            "lead-times",
            "lead-time-histogram",
            "throughput",
            "throughput-weekly",
            "wip",
            "aging",
            "cumulative-flow",
            "stages",
            "flow",
        ],
    ),
    "value": ("Work mix and value", ["work-mix", "time-saved"]),
    "demand": ("Demand and forecast", ["unmet-needs", "empty-searches", "forecast"]),
}


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _number(value: str | None, low: int, high: int) -> int | None:
    try:
        number = int(value) if value else None
    except ValueError:
        return None
    return None if number is None else max(low, min(high, number))


def _filters(request: Request) -> dict[str, str]:
    query = request.query_params
    keys = ("team", "offering", "since", "until", "items", "days")
    return {key: query[key] for key in keys if query.get(key)}


def _context(request: Request, reads: Session, user: User) -> reports.Context:
    filters = _filters(request)
    return reports.context_for(
        reads,
        viewer=user,
        team_slug=filters.get("team"),
        offering_slug=filters.get("offering"),
        first_day=_day(filters.get("since")),
        last_day=_day(filters.get("until")),
    )


@router.get("/insights", name="insights")
def insights(request: Request, reads: AnalyticsSession, user: PageUser) -> Response:
    """The answer first: the summary and every offering's health, then adoption."""
    if not reads_insights(reads, viewer=user):
        return _section(request, reads, user, "adoption")
    context = _context(request, reads, user)
    chosen = request.query_params.get("offering") and context.offerings
    offering = context.offerings[0] if chosen else None
    ranked = context.health_rows()
    paged = paginate_list(
        ranked,
        number=_number(request.query_params.get("page"), 1, 1_000_000) or 1,
        base=str(url_of(request, "insights")),
        params=_filters(request),
        size=HEALTH_SHOWN,
        anchor="health",
    )
    answer = {
        "summary": summary.summary(context),
        "health": paged.rows,
        "health_paged": paged,
        "attention": len(health.needing_attention(ranked)),
        "versions": versions.compare(reads, offering=offering) if offering else None,
        "offering": offering,
    }
    return _section(request, reads, user, "adoption", answer, context=context)


@router.get("/insights/requests", name="insights_requests")
def insights_requests(request: Request, reads: AnalyticsSession, user: PageUser) -> Response:
    context = _context(request, reads, user)
    metric = request.query_params.get("metric", "")
    try:
        found = drill.requests_behind(
            reads,
            offerings=context.offerings,
            period=context.period,
            metric=metric,
            day=_day(request.query_params.get("day")),
        )
    except drill.UnknownMetric as error:
        return _error(request, 422, str(error))
    return render(
        request,
        "analytics/insights_requests.html",
        {
            "metric": metric,
            "found": found,
            "filters": _filters(request),
            "day": request.query_params.get("day", ""),
            "period": context.period,
        },
    )


@router.get("/insights/digest", name="insights_digest")
def insights_digest(request: Request, reads: AnalyticsSession, user: PageUser) -> Response:
    """A team's retrospective digest: the last cadence window of its offerings."""
    found = digest.digest(reads, viewer=user, team_slug=request.query_params.get("team", ""))
    context = {
        "digest": found,
        "sets_cadence": digest.sets_cadence(user, found.team),
        "cadences": digest.CADENCES,
    }
    return render(request, "analytics/digest.html", context)


@router.post("/insights/digest/cadence", name="insights_digest_cadence")
def insights_digest_cadence(
    request: Request, db: DbSession, user: PageUser, data: SubmittedForm
) -> Response:
    """A lead sets how often the team's digest comes."""
    team_slug = str(data.get("team") or "")
    days = digest.set_cadence(
        db,
        actor=user,
        team_slug=team_slug,
        cadence_days=_number(str(data.get("cadence_days") or ""), 0, 999) or 0,
    )
    target = str(url_of(request, "insights_digest")) + "?" + urlencode({"team": team_slug})
    return see_other(request, target, notice=f"The digest now comes every {days} days.")


@router.post("/insights/digest/demand", name="insights_digest_demand")
def insights_digest_demand(
    request: Request, db: DbSession, user: PageUser, data: SubmittedForm
) -> Response:
    """One action: a finding of the digest becomes a need in the team's backlog."""
    created = digest.file_finding(
        db,
        actor=user,
        team_slug=str(data.get("team") or ""),
        title=str(data.get("title") or ""),
        description=str(data.get("description") or ""),
    )
    target = str(url_of(request, "demand_page", demand_id=created.id))
    return see_other(request, target, notice=f"“{created.title}” is in the team's backlog.")


@router.get("/insights/{section}", name="insights_section")
def insights_section(
    request: Request, section: str, reads: AnalyticsSession, user: PageUser
) -> Response:
    if section not in SECTIONS:
        return _error(request, 404, f"no insights section {section!r}")
    return _section(request, reads, user, section)


def _error(request: Request, status: int, message: str) -> Response:
    # Rendered here, while the signed-in user is still bound to the open session.
    return render(request, "error.html", {"status": status, "message": message}, status_code=status)


def _section(
    request: Request,
    reads: Session,
    user: User,
    section: str,
    answer: dict[str, Any] | None = None,
    *,
    context: reports.Context | None = None,
) -> Response:
    if not reads_insights(reads, viewer=user):
        return render(request, "analytics/insights.html", {"reads": False, "title": "none"})
    context = context or _context(request, reads, user)
    filters = _filters(request)
    title = SECTIONS[section][0]
    names = {offering.slug: offering.name for offering in context.offerings}
    panels = []
    for name in SECTIONS[section][1]:
        if name == "forecast":
            table = reports.forecast_table(
                context,
                items=_number(request.query_params.get("items"), 0, 100_000),
                days=_number(request.query_params.get("days"), 1, 365) or 14,
            )
        else:
            table = reports.TABLES[name](context)
        chart = _named(chart_of(table), names)
        panels.append(
            {
                "table": table,
                "columns": _shown_columns(table),
                "shown": table.rows[:ROWS_SHOWN],
                "chart": chart,
                "links": [_links(table, row, filters) for row in table.rows[:ROWS_SHOWN]],
                "csv": "/api/v1/analytics/"
                + table.name
                + "?"
                + urlencode({**filters, "format": "csv"}),
            }
        )
    return render(
        request,
        "analytics/insights.html",
        {
            "reads": True,
            "section": section,
            "sections": SECTIONS,
            "title": title,
            "panels": panels,
            "filters": filters,
            "period": context.period,
            "last_day": context.period.last_day,
            "teams": visible_teams(reads, viewer=user),
            "offerings": visible_offerings(reads, viewer=user),
            "has_offerings": bool(context.offerings),
            "answer": answer,
            "names": names,
        },
    )


def _named(chart: dict[str, Any] | None, names: dict[str, str]) -> dict[str, Any] | None:
    """A chart whose labels are offering slugs, labelled by the offerings' names."""
    if chart is None or not chart.get("labels"):
        return chart
    return {**chart, "labels": [names.get(label, label) for label in chart["labels"]]}


def _shown_columns(table: reports.Table) -> list[reports.Column]:
    """The columns a page shows: an offering by its name, so not the name twice."""
    keys = {column.key for column in table.columns}
    if "offering" in keys:
        return [column for column in table.columns if column.key != "name"]
    return table.columns


def _links(table: reports.Table, row: dict[str, Any], filters: dict[str, str]) -> dict[str, str]:
    """Where each cell of a row leads: the request itself, or the requests behind it."""
    links: dict[str, str] = {}
    if "request_id" in row:
        links["request_id"] = f"/requests/{row['request_id']}"
    for column in table.columns:
        if not column.drill or not row.get(column.key):
            continue
        query = dict(filters, metric=column.drill)
        if "offering" in row:
            query["offering"] = str(row["offering"])
        if "day" in row:
            query["day"] = str(row["day"])
        links[column.key] = "/insights/requests?" + urlencode(query)
    return links


# --- chart specifications, read by static/js/insights.js -----------------------


def _series(table: reports.Table, label_key: str, keys: list[str]) -> dict[str, Any]:
    labels = {column.key: column.label for column in table.columns}
    return {
        "labels": [row[label_key] for row in table.rows],
        "datasets": [
            {"label": labels[key], "data": [row.get(key) or 0 for row in table.rows]}
            for key in keys
        ],
    }


def chart_of(table: reports.Table) -> dict[str, Any] | None:
    """What to draw for a table, or None when the table stands alone."""
    if not table.rows:
        return None
    name = table.name
    if name == "adoption":
        return {"type": "bar", **_series(table, "offering", ["views", "form_starts", "submitted"])}
    if name == "rejection":
        spec = _series(
            table,
            "offering",
            ["abandoned", "cancelled", "low_ratings", "approval_rejections", "failed", "retries"],
        )
        for dataset, stack in zip(
            spec["datasets"],
            ["users", "users", "users", "organisation", "system", "system"],
            strict=True,
        ):
            dataset["stack"] = stack
        return {"type": "bar", "stacked": True, **spec}
    if name == "lead-times":
        return _scatter_with_percentiles(table)
    if name == "lead-time-histogram":
        return {"type": "bar", **_series(table, "lead_days", ["requests"]), "xTitle": "days"}
    if name in ("throughput", "throughput-weekly"):
        key = "day" if name == "throughput" else "week"
        return {"type": "bar", **_series(table, key, ["completed"])}
    if name == "wip":
        return {"type": "line", **_series(table, "day", ["wip"])}
    if name == "cumulative-flow":
        spec = _series(table, "day", ["arrived", "started", "completed", "dropped"])
        for dataset in spec["datasets"]:
            dataset["fill"] = "origin"
        return {"type": "line", **spec}
    if name == "aging":
        statuses = sorted({row["status"] for row in table.rows})
        return {
            "type": "scatter",
            "xCategories": statuses,
            "labels": statuses,
            "datasets": [
                {
                    "label": "Open requests (age in days)",
                    "data": [
                        {"x": row["status"], "y": row["age_days"]}
                        for row in table.rows[:POINTS_SHOWN]
                    ],
                }
            ],
        }
    if name == "stages":
        return {"type": "bar", **_series(table, "stage", ["hours"])}
    if name == "work-mix":
        weeks: dict[str, dict[str, int]] = {}
        for row in table.rows:
            week = weeks.setdefault(row["week"], {"standard": 0, "consultative": 0})
            week["standard"] += row["standard"]
            week["consultative"] += row["consultative"]
        return {
            "type": "bar",
            "stacked": True,
            "labels": list(weeks),
            "datasets": [
                {"label": kind.capitalize(), "data": [week[kind] for week in weeks.values()]}
                for kind in ("standard", "consultative")
            ],
        }
    if name == "time-saved":
        return {"type": "bar", **_series(table, "offering", ["hours_saved"])}
    if name == "unmet-needs":
        return {"type": "bar", "horizontal": True, **_series(table, "title", ["votes"])}
    if name == "empty-searches":
        return {"type": "bar", "horizontal": True, **_series(table, "query", ["searches"])}
    return None


def _scatter_with_percentiles(table: reports.Table) -> dict[str, Any]:
    points = [
        {"x": datetime.fromisoformat(row["completed_at"]).timestamp() * 1000, "y": row["lead_days"]}
        for row in table.rows[-POINTS_SHOWN:]
    ]
    levels = percentiles([row["lead_days"] for row in table.rows])
    xs = [point["x"] for point in points]
    lines = []
    for percent, level in levels.items():
        lines.append(
            {
                "label": f"{percent}th percentile: {level} days",
                "data": [{"x": min(xs), "y": level}, {"x": max(xs), "y": level}],
                "showLine": True,
                "pointRadius": 0,
                "borderDash": [6, 4],
            }
        )
    return {
        "type": "scatter",
        "xTime": True,
        "datasets": [{"label": "Completed requests (lead time, days)", "data": points}, *lines],
    }
