"""What comes into and goes out of the catalog: offering definitions and request forms."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from servicebay.catalog.conditions import ConditionError, fields_of, parse

SLUG_RE = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
FIELD_NAME_RE = r"^[a-z][a-z0-9_]{0,63}$"


class FieldType(StrEnum):
    TEXT = "text"
    TEXTAREA = "textarea"
    NUMBER = "number"
    BOOLEAN = "boolean"
    SELECT = "select"
    MULTISELECT = "multiselect"
    DATE = "date"
    EMAIL = "email"
    URL = "url"
    TEAM = "team"


class WorkKind(StrEnum):
    STANDARD = "standard"
    CONSULTATIVE = "consultative"


class OfferingStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    DEPRECATED = "deprecated"
    RETIRED = "retired"


class ShowIf(BaseModel):
    """Show a field only when another field has one of the given values."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    field: str
    equals: Any = None
    in_: list[Any] | None = Field(default=None, alias="in")

    def matches(self, value: Any) -> bool:
        if self.in_ is not None:
            return value in self.in_
        return bool(value == self.equals)


class FormField(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(pattern=FIELD_NAME_RE)]
    label: Annotated[str, Field(min_length=1, max_length=200)]
    type: FieldType = FieldType.TEXT
    required: bool = False
    help: str = ""
    placeholder: str = ""
    default: Any = None
    min: float | None = None
    max: float | None = None
    min_length: Annotated[int, Field(ge=0)] | None = None
    max_length: Annotated[int, Field(ge=1)] | None = None
    pattern: str | None = None
    options: list[str] = Field(default_factory=list)
    show_if: ShowIf | None = None

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as error:
                raise ValueError(f"not a valid regular expression: {error}") from error
        return value

    @model_validator(mode="after")
    def _options_where_needed(self) -> FormField:
        if self.type in (FieldType.SELECT, FieldType.MULTISELECT) and not self.options:
            raise ValueError(f"{self.type.value} field {self.name!r} needs options")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is greater than max")
        return self


class RequestForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fields: list[FormField] = Field(default_factory=list)

    @model_validator(mode="after")
    def _names_unique_and_references_known(self) -> RequestForm:
        seen: set[str] = set()
        for form_field in self.fields:
            if form_field.name in seen:
                raise ValueError(f"field name {form_field.name!r} is used twice")
            if form_field.show_if and form_field.show_if.field not in seen:
                raise ValueError(
                    f"show_if of {form_field.name!r} names {form_field.show_if.field!r}, "
                    "which is not a field above it"
                )
            seen.add(form_field.name)
        return self

    def field_names(self) -> list[str]:
        return [form_field.name for form_field in self.fields]


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    return value


class WebhookFulfilment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["webhook"] = "webhook"
    url: str
    timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 10.0
    max_attempts: Annotated[int, Field(ge=1, le=25)] = 5

    _check_url = field_validator("url")(_http_url)


class PluginFulfilment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["plugin"] = "plugin"
    plugin: str
    settings: dict[str, Any] = Field(default_factory=dict)
    max_attempts: Annotated[int, Field(ge=1, le=25)] = 5


class ManualFulfilment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["manual"] = "manual"
    checklist: list[str] = Field(default_factory=list)
    max_attempts: int = 1


FulfilmentSpec = Annotated[
    WebhookFulfilment | PluginFulfilment | ManualFulfilment, Field(discriminator="kind")
]


class Decider(StrEnum):
    OWNER_LEADS = "owner_leads"
    REQUESTER_LEAD = "requester_lead"
    TEAM = "team"


class ApprovalStep(BaseModel):
    """One decision: who may take it, and when it applies (a condition on the inputs)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=100)]
    decider: Decider
    team: str | None = Field(default=None, description="Team slug when decider is 'team'")
    condition: str | None = Field(default=None, description='e.g. cost > 500 and region == "eu"')

    @model_validator(mode="after")
    def _team_when_named(self) -> ApprovalStep:
        if self.decider is Decider.TEAM and not self.team:
            raise ValueError(f"step {self.name!r} decides by team but names none")
        if self.condition is not None:
            try:
                parse(self.condition)
            except ConditionError as error:
                raise ValueError(f"condition of step {self.name!r}: {error}") from None
        return self


class ApprovalPolicy(BaseModel):
    """No steps: no approval needed. Steps are decided in order."""

    model_config = ConfigDict(extra="forbid")

    steps: list[ApprovalStep] = Field(default_factory=list)

    def check_fields(self, known: set[str]) -> None:
        for step in self.steps:
            if step.condition:
                unknown = sorted(fields_of(parse(step.condition)) - known)
                if unknown:
                    raise ValueError(
                        f"condition of step {step.name!r} names unknown field(s): "
                        + ", ".join(unknown)
                    )


class ServiceLevel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    percent: Annotated[float, Field(ge=1, le=100)]
    within_hours: Annotated[float, Field(gt=0)]


class Quota(BaseModel):
    """At most ``count`` requests per requesting team in any ``period_days`` days."""

    model_config = ConfigDict(extra="forbid")

    count: Annotated[int, Field(ge=1)]
    period_days: Annotated[int, Field(ge=1, le=3660)] = 30


class OfferingIn(BaseModel):
    """An offering's definition as an ops team writes it (API, editor, catalog-as-code)."""

    model_config = ConfigDict(extra="forbid")

    slug: Annotated[str, Field(pattern=SLUG_RE)]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    summary: Annotated[str, Field(max_length=500)] = ""
    description: str = ""
    category: Annotated[str, Field(max_length=100)] = "General"
    tags: list[str] = Field(default_factory=list)
    owner_team: str
    contact: str = ""
    runbook_url: str = ""
    work_kind: WorkKind = WorkKind.STANDARD
    visibility: list[Annotated[str, Field(pattern=SLUG_RE)]] = Field(
        default_factory=list, description="Team slugs that may see it; empty: everyone"
    )
    no_input_needed: bool = False
    form: RequestForm = Field(default_factory=RequestForm)
    approval_policy: ApprovalPolicy = Field(default_factory=ApprovalPolicy)
    fulfilment: FulfilmentSpec
    webhook_secret: str | None = Field(default=None, description="Write-only signing secret")
    sle: ServiceLevel | None = None
    cost: Annotated[float, Field(ge=0)] = 0.0
    manual_effort_minutes: Annotated[int, Field(ge=0)] = 0
    quota: Quota | None = None

    @field_validator("runbook_url")
    @classmethod
    def _runbook_is_http(cls, value: str) -> str:
        return _http_url(value) if value else value

    @model_validator(mode="after")
    def _policy_names_form_fields(self) -> OfferingIn:
        self.approval_policy.check_fields(set(self.form.field_names()))
        return self


class OfferingOut(BaseModel):
    """An offering as the API shows it: the current version, never a webhook secret."""

    slug: str
    name: str
    summary: str
    description: str
    category: str
    tags: list[str]
    owner_team: str
    contact: str
    runbook_url: str
    work_kind: WorkKind
    status: OfferingStatus
    version: int
    draft_version: int | None = None
    visibility: list[str] = Field(default_factory=list)
    replacement: str | None = None
    deprecation_notice: str = ""
    no_input_needed: bool = False
    form: RequestForm
    approval_policy: ApprovalPolicy
    fulfilment: dict[str, Any]
    signing_secret_set: bool = False
    sle: ServiceLevel | None
    cost: float
    quota: Quota | None = None
    created_at: datetime


class ReadinessCheck(BaseModel):
    name: str
    label: str
    passed: bool
    hint: str = ""


class Readiness(BaseModel):
    version: int
    ready: bool
    checks: list[ReadinessCheck]

    @property
    def failing(self) -> list[ReadinessCheck]:
        return [check for check in self.checks if not check.passed]


class VersionOut(BaseModel):
    number: int
    status: str
    created_at: datetime
    published_at: datetime | None
    dry_run_status: str | None


class DryRunOut(BaseModel):
    version: int
    passed: bool
    message: str
    at: datetime
