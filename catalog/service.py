"""Catalog operations: define, version, publish, deprecate, retire and find offerings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from servicebay.catalog import dry_run, policies, readiness
from servicebay.catalog.errors import (
    CatalogPermissionDenied,
    InvalidOffering,
    NotReady,
    OfferingConflict,
    OfferingNotFound,
)
from servicebay.catalog.fulfilment import plugins
from servicebay.catalog.models import Offering, OfferingVersion
from servicebay.catalog.pipeline import as_pipeline
from servicebay.catalog.schemas import (
    STORED,
    ApprovalPolicy,
    Decider,
    FulfilmentSpec,
    InstancesSpec,
    OfferingIn,
    OfferingOut,
    OfferingStatus,
    Operation,
    PipelineFulfilment,
    PluginStep,
    Quota,
    Readiness,
    ReadinessCheck,
    RequestForm,
    ServiceLevel,
    WorkKind,
)
from servicebay.core import clock, events, validation
from servicebay.core.identity import Team, User
from servicebay.core.outbound import OutboundPolicy

DETAIL_FIELDS = (
    "name",
    "summary",
    "description",
    "category",
    "tags",
    "keywords",
    "contact",
    "runbook_url",
    "work_kind",
    "visibility",
)


# --- defining offerings ------------------------------------------------------


def create_offering(
    session: Session, *, actor: User | None, definition: OfferingIn, secret_env: str | None = None
) -> Offering:
    """Create a draft offering with its first version.

    ``actor`` None is the operator at the command line, who has every right.
    """
    team = _team(session, definition.owner_team)
    if actor is not None and not policies.can_create_offering_for(actor, team.id):
        raise CatalogPermissionDenied("only members of the owner team may create its offerings")
    if session.scalar(select(Offering.id).where(Offering.slug == definition.slug)):
        raise OfferingConflict(f"An offering with the slug {definition.slug!r} exists already.")
    _check_references(session, definition)
    now = clock.now()
    offering = Offering(
        slug=definition.slug,
        name=definition.name,
        owner_team_id=team.id,
        status=OfferingStatus.DRAFT.value,
        visible_team_ids=[],
        deprecation_notice="",
        created_at=now,
        updated_at=now,
    )
    session.add(offering)
    session.flush()
    version = OfferingVersion(offering_id=offering.id, number=1, status="draft", created_at=now)
    _fill_version(session, version, definition, secret_env=secret_env, keep_secret=None)
    session.add(version)
    session.flush()
    offering.current_version = version
    _show_details(session, offering, version)
    events.record(
        session,
        type="offering.created",
        actor_id=_id(actor),
        offering_id=offering.id,
        data={"slug": offering.slug, "version": 1},
    )
    return offering


def update_offering(
    session: Session,
    *,
    actor: User | None,
    offering: Offering,
    definition: OfferingIn,
    secret_env: str | None = None,
) -> OfferingVersion:
    """Save a new definition into the draft version, opening one if none is open.

    A published version never changes; requests made against it keep pointing at it.
    A webhook secret left out keeps the one stored before (it is write-only).
    """
    _require_edit(actor, offering)
    if definition.slug != offering.slug:
        raise InvalidOffering({"slug": "The slug of an offering cannot change."})
    if definition.owner_team != offering.owner_team.slug:
        raise InvalidOffering({"owner_team": "The owner team of an offering cannot change."})
    if offering.status == OfferingStatus.RETIRED.value:
        raise OfferingConflict("a retired offering cannot be changed")
    _check_references(session, definition)
    head = head_version(session, offering)
    draft = head if head.status == "draft" else None
    if draft is None:
        draft = OfferingVersion(
            offering_id=offering.id, number=head.number + 1, status="draft", created_at=clock.now()
        )
        session.add(draft)
    before = (draft.fulfilment, draft.webhook_secret)
    _fill_version(session, draft, definition, secret_env=secret_env, keep_secret=head)
    if (draft.fulfilment, draft.webhook_secret) != before:
        draft.dry_run_status, draft.dry_run_message, draft.dry_run_at = None, "", None
    session.flush()
    if offering.status == OfferingStatus.DRAFT.value:
        offering.current_version = draft
        _show_details(session, offering, draft)
    offering.updated_at = clock.now()
    events.record(
        session,
        type="offering.changed",
        actor_id=_id(actor),
        offering_id=offering.id,
        data={"version": draft.number},
    )
    return draft


def _fill_version(
    session: Session,
    version: OfferingVersion,
    definition: OfferingIn,
    *,
    secret_env: str | None,
    keep_secret: OfferingVersion | None,
) -> None:
    details = definition.model_dump(mode="json", include=set(DETAIL_FIELDS))
    if secret_env:
        details["webhook_secret_env"] = secret_env
    version.details = details
    version.no_input_needed = definition.no_input_needed
    version.form = definition.form.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    version.approval_policy = definition.approval_policy.model_dump(mode="json", exclude_none=True)
    version.fulfilment = definition.fulfilment.model_dump(mode="json")
    if not _signs_webhooks(definition):
        version.webhook_secret = None
    elif definition.webhook_secret is not None:
        version.webhook_secret = definition.webhook_secret or None
    elif keep_secret is not None:
        version.webhook_secret = keep_secret.webhook_secret
    version.sle_percent = definition.sle.percent if definition.sle else None
    version.sle_hours = definition.sle.within_hours if definition.sle else None
    version.cost = definition.cost
    version.manual_effort_minutes = definition.manual_effort_minutes
    version.quota_count = definition.quota.count if definition.quota else None
    version.quota_period_days = definition.quota.period_days if definition.quota else None
    version.instances = (
        definition.instances.model_dump(mode="json", by_alias=True, exclude_none=True)
        if definition.instances is not None
        else None
    )


def _signs_webhooks(definition: OfferingIn) -> bool:
    """Whether the version sends webhooks (its fulfilment's or an operation's), all signed
    with its one secret."""
    operations = definition.instances.operations if definition.instances else []
    specs = [definition.fulfilment, *(operation.fulfilment for operation in operations)]
    return any(step.kind == "webhook" for spec in specs for step in as_pipeline(spec).steps)


def _show_details(session: Session, offering: Offering, version: OfferingVersion) -> None:
    """Copy a version's portal details onto the offering (what search and pages read)."""
    details = version.details
    offering.name = details["name"]
    offering.summary = details.get("summary", "")
    offering.description = details.get("description", "")
    offering.category = details.get("category", "General")
    offering.tags = list(details.get("tags", []))
    offering.keywords = list(details.get("keywords", []))
    offering.contact = details.get("contact", "")
    offering.runbook_url = details.get("runbook_url", "")
    offering.work_kind = details.get("work_kind", "standard")
    slugs = details.get("visibility", [])
    offering.visible_team_ids = (
        list(session.scalars(select(Team.id).where(Team.slug.in_(slugs)))) if slugs else []
    )


def _check_references(session: Session, definition: OfferingIn) -> None:
    """What a definition names must exist: teams, deciding teams, fulfilment plugins."""
    problems: dict[str, str] = {}
    named = set(definition.visibility)
    for index, step in enumerate(definition.approval_policy.steps):
        if step.decider is Decider.TEAM and step.team:
            named.add(step.team)
            if not _team_exists(session, step.team):
                problems[f"approval_policy.steps.{index}.team"] = (
                    f"Approval step {index + 1} names a team that does not exist: {step.team!r}."
                )
    for index, slug in enumerate(definition.visibility):
        if not _team_exists(session, slug):
            problems[f"visibility.{index}"] = (
                f"Visibility names a team that does not exist: {slug!r}."
            )
    pipeline = _pipeline_checked(definition.fulfilment, "fulfilment", problems)
    for position, pipeline_step in enumerate(pipeline.steps):
        if isinstance(pipeline_step, PluginStep):
            problem = plugins.problem_of(pipeline_step.plugin, pipeline_step.settings)
            if problem:
                where = "fulfilment" if len(pipeline.steps) == 1 else f"fulfilment.steps.{position}"
                problems[f"{where}.settings"] = problem
    for index, operation in enumerate(
        definition.instances.operations if definition.instances else []
    ):
        where = f"instances.operations.{index}"
        for number, step in enumerate(operation.approval_policy.steps):
            if step.decider is Decider.TEAM and step.team and not _team_exists(session, step.team):
                problems[f"{where}.approval_policy.steps.{number}.team"] = (
                    f"Operation {operation.name!r} names a team that does not exist: {step.team!r}."
                )
        steps = _pipeline_checked(operation.fulfilment, f"{where}.fulfilment", problems).steps
        for operation_step in steps:
            if isinstance(operation_step, PluginStep):
                problem = plugins.problem_of(operation_step.plugin, operation_step.settings)
                if problem:
                    problems[f"{where}.fulfilment.settings"] = problem
    if problems:
        raise InvalidOffering(problems)


def _pipeline_checked(
    spec: FulfilmentSpec, where: str, problems: dict[str, str]
) -> PipelineFulfilment:
    """The spec as the steps it runs; a template in a single fulfilment (a checklist item,
    a parameter) that names what no step gives is a problem of the definition."""
    try:
        return as_pipeline(spec)
    except ValidationError as invalid:
        problems[where] = "; ".join(
            str(error["msg"]).removeprefix("Value error, ") for error in invalid.errors()
        )
        return PipelineFulfilment.model_construct(steps=[])


def _team(session: Session, slug: str) -> Team:
    team = session.scalar(select(Team).where(Team.slug == slug))
    if team is None:
        raise InvalidOffering({"owner_team": f"The owner team {slug!r} does not exist."})
    return team


def _team_exists(session: Session, slug: str) -> bool:
    return session.scalar(select(Team.id).where(Team.slug == slug)) is not None


def _id(actor: User | None) -> int | None:
    return actor.id if actor is not None else None


def _require_edit(actor: User | None, offering: Offering) -> None:
    if actor is not None and not policies.can_edit_offering(actor, offering):
        raise CatalogPermissionDenied("only members of the owner team may change this offering")


def _require_lead(actor: User | None, offering: Offering, doing: str) -> None:
    if actor is not None and not policies.can_publish_offering(actor, offering):
        raise CatalogPermissionDenied(f"only leads of the owner team may {doing} this offering")


# --- versions ------------------------------------------------------------------


def versions_of(session: Session, offering: Offering) -> list[OfferingVersion]:
    statement = (
        select(OfferingVersion)
        .where(OfferingVersion.offering_id == offering.id)
        .order_by(OfferingVersion.number)
    )
    return list(session.scalars(statement))


def head_version(session: Session, offering: Offering) -> OfferingVersion:
    """The newest version: the open draft if there is one, else the current one."""
    newest = session.scalar(
        select(OfferingVersion)
        .where(OfferingVersion.offering_id == offering.id)
        .order_by(OfferingVersion.number.desc())
        .limit(1)
    )
    if newest is None:
        raise OfferingConflict(f"{offering.slug} has no version")
    return newest


def draft_version(session: Session, offering: Offering) -> OfferingVersion | None:
    head = head_version(session, offering)
    return head if head.status == "draft" else None


def draft_numbers(session: Session, offering_ids: list[int]) -> dict[int, int]:
    """The number of each offering's open draft, for many offerings in one query (an open
    draft is always an offering's newest version)."""
    statement = (
        select(OfferingVersion.offering_id, func.max(OfferingVersion.number))
        .where(OfferingVersion.offering_id.in_(offering_ids), OfferingVersion.status == "draft")
        .group_by(OfferingVersion.offering_id)
    )
    return {offering_id: number for offering_id, number in session.execute(statement)}


def get_version(session: Session, offering: Offering, number: int) -> OfferingVersion:
    version = session.scalar(
        select(OfferingVersion).where(
            OfferingVersion.offering_id == offering.id, OfferingVersion.number == number
        )
    )
    if version is None:
        raise OfferingNotFound(f"{offering.slug} version {number}")
    return version


def definition_of(offering: Offering, version: OfferingVersion) -> OfferingIn:
    """The definition a version was saved from (without its secret)."""
    details = {k: v for k, v in version.details.items() if k in DETAIL_FIELDS}
    sle = (
        {"percent": version.sle_percent, "within_hours": version.sle_hours}
        if version.sle_percent is not None and version.sle_hours is not None
        else None
    )
    quota = (
        {"count": version.quota_count, "period_days": version.quota_period_days or 30}
        if version.quota_count is not None
        else None
    )
    return OfferingIn.model_validate(
        {
            "slug": offering.slug,
            "owner_team": offering.owner_team.slug,
            **details,
            "no_input_needed": version.no_input_needed,
            "form": version.form,
            "approval_policy": version.approval_policy,
            "fulfilment": version.fulfilment,
            "sle": sle,
            "cost": version.cost,
            "manual_effort_minutes": version.manual_effort_minutes,
            "quota": quota,
            "instances": version.instances,
        },
        context=STORED,
    )


def secret_env_of(version: OfferingVersion) -> str | None:
    name = version.details.get("webhook_secret_env")
    return str(name) if name else None


def sle_of(version: OfferingVersion) -> ServiceLevel | None:
    if version.sle_percent is None or version.sle_hours is None:
        return None
    return ServiceLevel(percent=version.sle_percent, within_hours=version.sle_hours)


def quota_of(version: OfferingVersion) -> Quota | None:
    if version.quota_count is None:
        return None
    return Quota(count=version.quota_count, period_days=version.quota_period_days or 30)


def policy_of(version: OfferingVersion) -> ApprovalPolicy:
    return ApprovalPolicy.model_validate(version.approval_policy)


_FULFILMENT: TypeAdapter[FulfilmentSpec] = TypeAdapter(FulfilmentSpec)


@dataclass(frozen=True)
class FulfilmentShown:
    """What a viewer may read of a version's fulfilment: ``signing_secret_set`` is None
    when the viewer may not know it."""

    settings: dict[str, Any]
    signing_secret_set: bool | None


def fulfilment_shown_to(
    viewer: User, offering: Offering, version: OfferingVersion | None
) -> FulfilmentShown:
    """The version's fulfilment settings as ``viewer`` may read them: all of them for the
    owner team and admins, only the kind of fulfilment for everyone else."""
    if version is None:
        return FulfilmentShown(settings={}, signing_secret_set=None)
    if policies.can_read_fulfilment(viewer, offering):
        return FulfilmentShown(
            settings=dict(version.fulfilment), signing_secret_set=bool(version.webhook_secret)
        )
    return FulfilmentShown(
        settings={"kind": version.fulfilment.get("kind", "manual")}, signing_secret_set=None
    )


def instances_of(version: OfferingVersion) -> InstancesSpec | None:
    """How the version's fulfilled requests make instances; None when they make none."""
    if version.instances is None:
        return None
    return InstancesSpec.model_validate(version.instances, context=STORED)


def operation_of(version: OfferingVersion, name: str) -> Operation | None:
    """The version's day-2 operation of that name, if it defines one."""
    spec = instances_of(version)
    return spec.operation(name) if spec is not None else None


def fulfilment_of(version: OfferingVersion, operation: str | None = None) -> FulfilmentSpec:
    """The version's fulfilment settings, with every default filled in; with
    ``operation``, those of that day-2 operation."""
    if operation is not None:
        found = operation_of(version, operation)
        if found is not None:
            return found.fulfilment
    return _FULFILMENT.validate_python(version.fulfilment)


def pipeline_of(version: OfferingVersion, operation: str | None = None) -> PipelineFulfilment:
    """The version's fulfilment (or that of its day-2 ``operation``) as the steps the engine
    runs (a single one is a step)."""
    pipeline: PipelineFulfilment = as_pipeline(fulfilment_of(version, operation))
    return pipeline


# --- readiness and lifecycle ---------------------------------------------------


def readiness_of(session: Session, offering: Offering) -> Readiness:
    """The scorecard of the version that publishing would make current."""
    return readiness.assess(offering, head_version(session, offering))


def test_fulfilment(
    session: Session, *, actor: User | None, offering: Offering, outbound: OutboundPolicy
) -> OfferingVersion:
    """Send a test event to the head version's fulfilment and record how it went."""
    _require_edit(actor, offering)
    version = head_version(session, offering)
    result = dry_run.run(offering, version, fulfilment_of(version), outbound=outbound)
    version.dry_run_status = "passed" if result.passed else "failed"
    version.dry_run_message = result.message
    version.dry_run_at = clock.now()
    events.record(
        session,
        type="offering.dry_run",
        actor_id=_id(actor),
        offering_id=offering.id,
        data={"version": version.number, "passed": result.passed, "message": result.message},
    )
    return version


def publish(
    session: Session,
    *,
    actor: User | None,
    offering: Offering,
    override_reason: str | None = None,
    skip_checks: tuple[str, ...] = (),
) -> Offering:
    """Make the newest version current. Refused while a readiness check fails,
    unless an admin overrides with a reason (recorded as an Event)."""
    _require_lead(actor, offering, "publish")
    if offering.status == OfferingStatus.RETIRED.value:
        raise OfferingConflict("a retired offering cannot be published again")
    version = head_version(session, offering)
    if version.status != "draft" and offering.status == OfferingStatus.PUBLISHED.value:
        raise OfferingConflict(f"version {version.number} is published already; edit to change it")
    scorecard = readiness.assess(offering, version)
    failing = [c for c in scorecard.failing if c.name not in skip_checks]
    if failing:
        _override(session, actor, offering, version, failing, override_reason)
    now = clock.now()
    previous = offering.current_version
    if previous is not None and previous.id != version.id and previous.status == "published":
        previous.status = "superseded"
    version.status = "published"
    version.published_at = version.published_at or now
    offering.current_version = version
    _show_details(session, offering, version)
    offering.status = OfferingStatus.PUBLISHED.value
    offering.replacement_slug = None
    offering.deprecation_notice = ""
    offering.updated_at = now
    events.record(
        session,
        type="offering.published",
        actor_id=_id(actor),
        offering_id=offering.id,
        data={"version": version.number},
    )
    return offering


def _override(
    session: Session,
    actor: User | None,
    offering: Offering,
    version: OfferingVersion,
    failing: list[Any],
    reason: str | None,
) -> None:
    names = [check.name for check in failing]
    if not reason or not reason.strip():
        raise NotReady(failing)
    if actor is not None and not policies.can_override_readiness(actor):
        raise CatalogPermissionDenied("only an admin may publish past failing readiness checks")
    events.record(
        session,
        type="offering.readiness_overridden",
        actor_id=_id(actor),
        offering_id=offering.id,
        data={"version": version.number, "failing": names, "reason": reason.strip()},
    )


def deprecate(
    session: Session,
    *,
    actor: User | None,
    offering: Offering,
    replacement: str | None = None,
    notice: str = "",
) -> Offering:
    """Still shown, with a notice and maybe a pointer to its replacement; no new requests."""
    _require_lead(actor, offering, "deprecate")
    if offering.status != OfferingStatus.PUBLISHED.value:
        raise OfferingConflict(
            f"only a published offering can be deprecated, not a {offering.status} one"
        )
    if replacement:
        target = session.scalar(select(Offering).where(Offering.slug == replacement))
        if target is None or target.id == offering.id:
            raise InvalidOffering({"replacement": f"no other offering {replacement!r}"})
    offering.status = OfferingStatus.DEPRECATED.value
    offering.replacement_slug = replacement or None
    offering.deprecation_notice = notice.strip()
    offering.updated_at = clock.now()
    events.record(
        session,
        type="offering.deprecated",
        actor_id=_id(actor),
        offering_id=offering.id,
        data={"replacement": replacement, "notice": notice.strip()},
    )
    return offering


def retire(session: Session, *, actor: User | None, offering: Offering) -> Offering:
    """Gone from the portal; existing requests are untouched."""
    _require_lead(actor, offering, "retire")
    if offering.status == OfferingStatus.RETIRED.value:
        raise OfferingConflict("the offering is retired already")
    offering.status = OfferingStatus.RETIRED.value
    offering.updated_at = clock.now()
    events.record(
        session, type="offering.retired", actor_id=_id(actor), offering_id=offering.id, data={}
    )
    return offering


# --- finding offerings ---------------------------------------------------------


def offering_out(
    session: Session,
    offering: Offering,
    *,
    viewer: User,
    drafts: dict[int, int] | None = None,
) -> OfferingOut:
    """The offering as the API and the agent tools show it to ``viewer`` (fulfilment
    settings only to the owner team and admins); ``drafts`` (from draft_numbers) saves a
    query per offering when listing many."""
    version = offering.current_version
    current = version.number if version else None
    if drafts is None:
        drafts = draft_numbers(session, [offering.id])
    draft = drafts.get(offering.id)
    fulfilment = fulfilment_shown_to(viewer, offering, version)
    return OfferingOut(
        slug=offering.slug,
        name=offering.name,
        summary=offering.summary,
        description=offering.description,
        category=offering.category,
        tags=list(offering.tags),
        keywords=list(offering.keywords),
        owner_team=offering.owner_team.slug,
        contact=offering.contact,
        runbook_url=offering.runbook_url,
        work_kind=WorkKind(offering.work_kind),
        status=OfferingStatus(offering.status),
        version=version.number if version else 0,
        draft_version=draft if draft != current else None,
        visibility=list(version.details.get("visibility", [])) if version else [],
        replacement=offering.replacement_slug,
        deprecation_notice=offering.deprecation_notice,
        no_input_needed=version.no_input_needed if version else False,
        form=form_of(version) if version else RequestForm(),
        approval_policy=policy_of(version) if version else ApprovalPolicy(),
        fulfilment=fulfilment.settings,
        signing_secret_set=fulfilment.signing_secret_set,
        sle=sle_of(version) if version else None,
        cost=version.cost if version else 0.0,
        quota=quota_of(version) if version else None,
        created_at=offering.created_at,
    )


def get_offering(session: Session, *, slug: str, viewer: User | None) -> Offering:
    """The offering if it exists and the viewer may see it; otherwise OfferingNotFound."""
    offering = session.scalar(select(Offering).where(Offering.slug == slug))
    if offering is None or not policies.can_see_offering(viewer, offering):
        raise OfferingNotFound(slug)
    return offering


def ids_with_slug(slug: str) -> Select[int]:
    """The id of the offering with this slug (none if there is none), as a statement to
    narrow other queries by."""
    return select(Offering.id).where(Offering.slug == slug)


def get_for_edit(session: Session, *, slug: str, actor: User) -> Offering:
    offering = get_offering(session, slug=slug, viewer=actor)
    _require_edit(actor, offering)
    return offering


def for_ops(actor: User, *, name: str = "", team_id: int | None = None) -> Select[Offering]:
    """The offerings of the actor's teams (every offering for an admin), retired too, by
    name; optionally only those whose name or slug contains ``name``, or of one team."""
    statement = select(Offering).order_by(Offering.name, Offering.id)
    if not policies.can_manage_every_offering(actor):
        statement = statement.where(Offering.owner_team_id.in_(actor.team_ids or [-1]))
    if team_id is not None:
        statement = statement.where(Offering.owner_team_id == team_id)
    if name.strip():
        pattern = f"%{name.strip()}%"
        statement = statement.where(or_(Offering.name.ilike(pattern), Offering.slug.ilike(pattern)))
    return statement


def form_of(version: OfferingVersion) -> RequestForm:
    return RequestForm.model_validate(version.form, context=STORED)


def record_view(session: Session, *, offering: Offering, viewer: User | None) -> None:
    events.record(
        session,
        type="offering.viewed",
        actor_id=viewer.id if viewer else None,
        offering_id=offering.id,
    )


OFFERING_LABELS = {
    "slug": "The slug",
    "name": "The name",
    "summary": "The summary",
    "description": "The description",
    "category": "The category",
    "owner_team": "The owner team",
    "contact": "The contact",
    "runbook_url": "The runbook link",
    "work_kind": "The kind of work",
    "visibility": "Visibility",
    "cost": "The cost per request",
    "manual_effort_minutes": "The manual effort",
    "sle.percent": "The service level's share of requests",
    "sle.within_hours": "The service level's hours",
    "quota.count": "The quota",
    "quota.period_days": "The quota's period",
    "webhook_secret": "The signing secret",
}


def problems_of(error: ValidationError) -> dict[str, str]:
    """An offering definition's errors as field path → a sentence naming the field."""
    return validation.problems_in_words(error.errors(), labels=OFFERING_LABELS)


@dataclass(frozen=True)
class Lifecycle:
    """What may be done next to an offering, for pages. ``publish_blocked_by`` lists the
    readiness checks that keep this person from publishing now (none for those who may
    publish past them)."""

    can_publish: bool
    can_deprecate: bool
    can_retire: bool
    publish_blocked_by: list[ReadinessCheck]


def lifecycle_of(session: Session, offering: Offering, *, actor: User | None = None) -> Lifecycle:
    draft = draft_version(session, offering)
    status = offering.status
    can_publish = status != "retired" and (draft is not None or status != "published")
    blocked: list[ReadinessCheck] = []
    if can_publish and not (actor is not None and policies.can_override_readiness(actor)):
        blocked = readiness.assess(offering, head_version(session, offering)).failing
    return Lifecycle(
        can_publish=can_publish,
        can_deprecate=status == "published",
        can_retire=status != "retired",
        publish_blocked_by=blocked,
    )


def reencrypt_secrets(session: Session) -> int:
    """Write every stored webhook secret again, encrypted with the current secret key."""
    versions = session.scalars(
        select(OfferingVersion).where(OfferingVersion.webhook_secret.is_not(None))
    ).all()
    for version in versions:
        flag_modified(version, "webhook_secret")
    return len(versions)
