"""The agent tools and resources: each parses its arguments, calls the context function
the JSON API calls for the same thing, and answers JSON (with an output schema).

A tool needs the scope the API route needs: reading ``read``, asking and deciding
``request``, retrying a failed run ``ops``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, Literal

from mcp_types import CallToolResult, ToolAnnotations
from pydantic import AliasPath, BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError
from mcp.server.mcpserver.tools import Tool
from servicebay.catalog import demand as demand_service
from servicebay.catalog import live_options, search
from servicebay.catalog.models import Urgency
from servicebay.catalog.schemas import DESCRIPTION_MAX, SLUG_MAX, DemandOut, FieldOptionsOut
from servicebay.core.errors import Invalid, ServicebayError
from servicebay.core.identity import User
from servicebay.core.outbound import OutboundPolicy
from servicebay.portal.mcp.runner import Limit, ToolRunner
from servicebay.requests import approvals
from servicebay.requests import service as requests_service
from servicebay.requests.schemas import (
    ApprovalOut,
    CommentOut,
    OfferingDescription,
    RequestOut,
    RequestStoryOut,
)

INSTRUCTIONS = """servicebay is the company's service catalog. To get something done for the
user: search_offerings, then describe_offering (its form is a JSON Schema, with approval
steps, service level, cost and quota), validate_request until it says valid, then
submit_request with a fresh idempotency_key (reuse it only to retry the same call). Follow
the request with get_request. When nothing in the catalog fits, list_demands and
vote_demand, or file_demand. You act with the user's API token and never more."""

READS = ToolAnnotations(read_only_hint=True, open_world_hint=False)
ADDS = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)
CHANGES = ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=False)


# --- what the tools answer (beside the contexts' own output models) ----------------


class OfferingCard(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    slug: str
    name: str
    summary: str
    category: str
    tags: list[str]
    owner_team: str = Field(validation_alias=AliasPath("owner_team", "slug"))
    work_kind: str
    status: str


class OfferingMatches(BaseModel):
    total: int = Field(description="How many offerings match, on every page")
    page: int
    pages: int
    offerings: list[OfferingCard]
    did_you_mean: str | None = Field(
        default=None, description="When nothing matched: a close query that finds something"
    )


class Validation(BaseModel):
    valid: bool
    inputs: dict[str, Any] = Field(description="The inputs as a submission would store them")
    problems: list[dict[str, str]] = Field(
        description="Each failing field and what is wrong, as the API says it"
    )
    message: str = ""


class Submitted(BaseModel):
    request: RequestOut
    replayed: bool = Field(description="True when this key made the request earlier")


class MyRequests(BaseModel):
    requests: list[RequestOut]


class PendingApprovals(BaseModel):
    approvals: list[ApprovalOut]


class Demands(BaseModel):
    demands: list[DemandOut]


class FailedRun(BaseModel):
    request: RequestOut
    run_id: int
    attempts: int
    last_error: str | None


class FailedRuns(BaseModel):
    failed: list[FailedRun]


# --- the server ---------------------------------------------------------------------


def agent_tools(runner: ToolRunner) -> list[Tool]:
    """Every tool, each calling through ``runner``, with the JSON Schema of its answer."""
    settings = runner.settings
    live = live_options.for_policy(OutboundPolicy.from_settings(settings))

    def search_offerings(
        query: Annotated[str, Field(max_length=200, description="Words to look for")] = "",
        category: Annotated[str, Field(max_length=100)] = "",
        team: Annotated[str, Field(max_length=SLUG_MAX, description="Owner team slug")] = "",
        tag: Annotated[str, Field(max_length=100)] = "",
        page: Annotated[int, Field(ge=1, le=1000)] = 1,
    ) -> CallToolResult:
        def work(db: Session, user: User) -> OfferingMatches:
            found = search.search(
                db,
                viewer=user,
                query=query,
                filters=search.Filters(category=category, team=team, tag=tag),
                page=page,
                per_page=20,
            )
            return OfferingMatches(
                total=found.total,
                page=found.page,
                pages=found.pages,
                offerings=[OfferingCard.model_validate(o) for o in found.offerings],
                did_you_mean=found.did_you_mean or None,
            )

        limits = [Limit("searches", settings.rate_limit_search)] if query.strip() else []
        return runner.call("search_offerings", "read", work, limits=limits)

    def describe_offering(
        slug: Annotated[str, Field(max_length=SLUG_MAX, description="The offering's slug")],
    ) -> CallToolResult:
        return runner.call(
            "describe_offering",
            "read",
            lambda db, user: requests_service.describe(db, viewer=user, slug=slug),
        )

    def validate_request(
        offering: Annotated[str, Field(max_length=SLUG_MAX, description="The offering's slug")],
        inputs: Annotated[
            dict[str, Any], Field(description="Form field name → value, as the form schema says")
        ],
    ) -> CallToolResult:
        def work(db: Session, user: User) -> Validation:
            try:
                cleaned = requests_service.check_inputs(
                    db, actor=user, offering_slug=offering, inputs=inputs, live=live
                )
            except Invalid as error:
                problems = [{"field": f, "message": m} for f, m in error.problems.items()]
                return Validation(valid=False, inputs={}, problems=problems, message=str(error))
            return Validation(valid=True, inputs=cleaned, problems=[])

        return runner.call("validate_request", "read", work)

    def list_field_options(
        offering: Annotated[str, Field(max_length=SLUG_MAX, description="The offering's slug")],
        field: Annotated[str, Field(max_length=64, description="A select field's name")],
        inputs: Annotated[
            dict[str, Any], Field(description="The answers so far: the fields it depends on")
        ],
    ) -> CallToolResult:
        def work(db: Session, user: User) -> FieldOptionsOut:
            found = requests_service.field_options(
                db, viewer=user, offering_slug=offering, field_name=field, inputs=inputs, live=live
            )
            return FieldOptionsOut.model_validate(found)

        return runner.call("list_field_options", "read", work)

    def submit_request(
        offering: Annotated[str, Field(max_length=SLUG_MAX, description="The offering's slug")],
        inputs: Annotated[dict[str, Any], Field(description="Form field name → value")],
        idempotency_key: Annotated[
            str,
            Field(
                min_length=1,
                max_length=255,
                description="A fresh unique string per request; the same key and inputs "
                "again return the request made the first time, never a second one",
            ),
        ],
    ) -> CallToolResult:
        def work(db: Session, user: User) -> Submitted:
            created, replayed = requests_service.submit_once(
                db,
                actor=user,
                key=idempotency_key.strip(),
                offering_slug=offering,
                inputs=inputs,
                live=live,
            )
            return Submitted(request=RequestOut.model_validate(created), replayed=replayed)

        limits = [Limit("submissions", settings.rate_limit_submit)]
        return runner.call("submit_request", "request", work, limits=limits)

    def list_my_requests(
        status: Annotated[
            str, Field(max_length=40, description="open, closed, or one status; empty: all")
        ] = "",
        query: Annotated[str, Field(max_length=200, description="Part of the name")] = "",
    ) -> CallToolResult:
        def work(db: Session, user: User) -> MyRequests:
            found = requests_service.list_for_requester(db, requester=user, status=status, q=query)
            return MyRequests(requests=[RequestOut.model_validate(r) for r in found])

        return runner.call("list_my_requests", "read", work)

    def get_request(
        request_id: Annotated[int, Field(ge=1, le=2**31 - 1)],
    ) -> CallToolResult:
        return runner.call(
            "get_request",
            "read",
            lambda db, user: requests_service.story_of(db, request_id=request_id, viewer=user),
        )

    def cancel_request(
        request_id: Annotated[int, Field(ge=1, le=2**31 - 1)],
        reason: Annotated[str, Field(max_length=2000)] = "",
    ) -> CallToolResult:
        return runner.call(
            "cancel_request",
            "request",
            lambda db, user: RequestOut.model_validate(
                requests_service.cancel(db, actor=user, request_id=request_id, reason=reason)
            ),
        )

    def comment_on_request(
        request_id: Annotated[int, Field(ge=1, le=2**31 - 1)],
        body: Annotated[str, Field(min_length=1, max_length=10000)],
    ) -> CallToolResult:
        return runner.call(
            "comment_on_request",
            "request",
            lambda db, user: CommentOut.model_validate(
                requests_service.add_comment(db, actor=user, request_id=request_id, body=body)
            ),
        )

    def list_pending_approvals() -> CallToolResult:
        return runner.call(
            "list_pending_approvals",
            "read",
            lambda db, user: PendingApprovals(
                approvals=[ApprovalOut.model_validate(a) for a in approvals.inbox(db, user=user)]
            ),
        )

    def decide_approval(
        approval_id: Annotated[int, Field(ge=1, le=2**31 - 1)],
        decision: Literal["approve", "reject"],
        reason: Annotated[
            str, Field(max_length=2000, description="Required to reject; shown to the requester")
        ] = "",
    ) -> CallToolResult:
        return runner.call(
            "decide_approval",
            "request",
            lambda db, user: ApprovalOut.model_validate(
                approvals.decide(
                    db,
                    actor=user,
                    approval_id=approval_id,
                    approve=decision == "approve",
                    reason=reason,
                )
            ),
        )

    def list_demands() -> CallToolResult:
        return runner.call(
            "list_demands",
            "read",
            lambda db, user: Demands(
                demands=[
                    DemandOut.model_validate(d)
                    for d in demand_service.list_readable(db, viewer=user)
                ]
            ),
        )

    def file_demand(
        title: Annotated[str, Field(min_length=1, max_length=200)],
        description: Annotated[str, Field(max_length=DESCRIPTION_MAX)] = "",
        urgency: Urgency = Urgency.NORMAL,
        team: Annotated[
            str | None, Field(max_length=SLUG_MAX, description="Team it is addressed to")
        ] = None,
    ) -> CallToolResult:
        return runner.call(
            "file_demand",
            "request",
            lambda db, user: DemandOut.model_validate(
                demand_service.create(
                    db,
                    actor=user,
                    title=title,
                    description=description,
                    urgency=urgency.value,
                    team_slug=team,
                )
            ),
        )

    def vote_demand(
        demand_id: Annotated[int, Field(ge=1, le=2**31 - 1)],
    ) -> CallToolResult:
        def work(db: Session, user: User) -> DemandOut:
            demand = demand_service.get_readable(db, viewer=user, demand_id=demand_id)
            return DemandOut.model_validate(demand_service.vote(db, actor=user, demand=demand))

        return runner.call("vote_demand", "request", work)

    def list_failed_runs(
        team: Annotated[str, Field(max_length=SLUG_MAX, description="Your ops team's slug")],
    ) -> CallToolResult:
        def work(db: Session, user: User) -> FailedRuns:
            found = requests_service.failed_on_board(db, viewer=user, team_slug=team)
            return FailedRuns(
                failed=[
                    FailedRun(
                        request=RequestOut.model_validate(request),
                        run_id=run.id,
                        attempts=run.attempt,
                        last_error=run.last_error,
                    )
                    for request, run in found
                ]
            )

        return runner.call("list_failed_runs", "read", work)

    def retry_request(
        request_id: Annotated[int, Field(ge=1, le=2**31 - 1)],
    ) -> CallToolResult:
        return runner.call(
            "retry_request",
            "ops",
            lambda db, user: RequestOut.model_validate(
                requests_service.retry(db, actor=user, request_id=request_id).request
            ),
        )

    tools: list[tuple[Callable[..., CallToolResult], str, ToolAnnotations, type[BaseModel]]] = [
        (
            search_offerings,
            "Find offerings by words, category, team or tag.",
            READS,
            OfferingMatches,
        ),
        (
            describe_offering,
            "One offering: form as JSON Schema, approval steps, service level, cost, quota left.",
            READS,
            OfferingDescription,
        ),
        (validate_request, "Check inputs against the form; submits nothing.", READS, Validation),
        (
            list_field_options,
            "A select field's options for your answers (live options depend on them).",
            READS,
            FieldOptionsOut,
        ),
        (submit_request, "Submit a request (idempotent by its key).", ADDS, Submitted),
        (
            list_my_requests,
            "Your requests, newest first, with status and outputs.",
            READS,
            MyRequests,
        ),
        (
            get_request,
            "One request: status, outputs, timeline, approval steps, run log lines, comments.",
            READS,
            RequestStoryOut,
        ),
        (cancel_request, "Cancel a request before it completes.", CHANGES, RequestOut),
        (comment_on_request, "Comment on a request you take part in.", ADDS, CommentOut),
        (list_pending_approvals, "Steps waiting for your decision.", READS, PendingApprovals),
        (decide_approval, "Approve or reject (a rejection needs a reason).", CHANGES, ApprovalOut),
        (list_demands, "Needs the catalog lacks, most votes first.", READS, Demands),
        (file_demand, "Ask for something the catalog does not offer yet.", ADDS, DemandOut),
        (vote_demand, "Vote for a demand (voting twice changes nothing).", ADDS, DemandOut),
        (list_failed_runs, "Your ops team's failed requests and their runs.", READS, FailedRuns),
        (retry_request, "Start a new fulfilment run for a failed request.", ADDS, RequestOut),
    ]
    made = []
    for tool, description, hints, answer in tools:
        made.append(Tool.from_function(tool, description=description, annotations=hints))
        # The answer's schema as it is sent (field names, not the names read from rows);
        # published, and checked by the client, without the SDK validating it again.
        made[-1].fn_metadata.output_schema = answer.model_json_schema(mode="serialization")
    return made


def add_resources(server: MCPServer, runner: ToolRunner) -> None:
    """The offerings and requests the caller may read, as JSON resources."""

    def read_json(name: str, work: Any) -> str:
        try:
            return json.dumps(runner.answer(name, "read", work))
        except ServicebayError as error:
            raise ResourceError(str(error)) from None

    @server.resource(
        "servicebay://offerings/{slug}",
        name="offering",
        description="An offering with its form as JSON Schema",
        mime_type="application/json",
    )
    def offering_resource(slug: str) -> str:
        return read_json(
            "resource:offering",
            lambda db, user: requests_service.describe(db, viewer=user, slug=slug),
        )

    @server.resource(
        "servicebay://requests/{request_id}",
        name="request",
        description="A request of yours with its timeline, runs and comments",
        mime_type="application/json",
    )
    def request_resource(request_id: str) -> str:
        if not request_id.isdigit():
            raise ResourceError(f"no request {request_id!r}")
        return read_json(
            "resource:request",
            lambda db, user: requests_service.story_of(db, request_id=int(request_id), viewer=user),
        )

    @server.resource(
        "servicebay://requests",
        name="my-requests",
        description="Your newest requests",
        mime_type="application/json",
    )
    def my_requests_resource() -> str:
        return read_json(
            "resource:my-requests",
            lambda db, user: MyRequests(
                requests=[
                    RequestOut.model_validate(r)
                    for r in requests_service.list_for_requester(db, requester=user)
                ]
            ),
        )
