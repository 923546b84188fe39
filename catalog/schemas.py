"""What comes into and goes out of the catalog: offering definitions, request forms, demands."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import re2
import yaml
from jsonpath_ng import JSONPath
from jsonpath_ng.parser import parse as parse_json_path
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from uritemplate import URITemplate

from servicebay.catalog.conditions import ConditionError, fields_of, parse
from servicebay.core import clock
from servicebay.core.validation import describe_pattern

SLUG_RE = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
FIELD_NAME_RE = r"^[a-z][a-z0-9_]{0,63}$"
describe_pattern(
    SLUG_RE,
    "may only have lowercase letters, digits and dashes, and starts and ends with a letter "
    "or digit (like “postgres-database”)",
)
describe_pattern(
    FIELD_NAME_RE,
    "starts with a lowercase letter and may only have lowercase letters, digits and "
    "underscores (like “database_name”)",
)

# Maximum lengths of text (characters), documented in docs/security.md#input-limits.
SLUG_MAX = 64
NAME_MAX = 200
SUMMARY_MAX = 500
DESCRIPTION_MAX = 10_000
REASON_MAX = 2_000
URL_MAX = 2_000
TAG_MAX = 50
CONDITION_MAX = 500
PATH_MAX = 200
# A request form's text field without its own max_length gets one by its type.
DEFAULT_MAX_LENGTH = {
    "text": 1_000,
    "textarea": 10_000,
    "email": 254,
    "url": URL_MAX,
    "team": SLUG_MAX,
}

Slug = Annotated[str, Field(pattern=SLUG_RE, max_length=SLUG_MAX)]
Name = Annotated[str, Field(min_length=1, max_length=NAME_MAX)]
ShortText = Annotated[str, Field(max_length=NAME_MAX)]
Tag = Annotated[str, Field(max_length=TAG_MAX)]

# Validation context for definitions read back from the database: they were checked when
# they were saved, and a rule added since must not make an existing version unreadable.
STORED = {"stored": True}

PATTERN_MAX_LENGTH = 500
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


def _stored(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("stored"))


@lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> Any:
    """A form field's pattern, compiled by RE2: matching takes time linear in the input,
    whatever the pattern (no backtracking). Raises ValueError naming the problem."""
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as error:
        reason = error.args[0] if error.args else error
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise ValueError(f"not a valid regular expression: {reason}") from None


def pattern_problem(pattern: str) -> str | None:
    """Why a pattern may not be used, or None.

    The server matches with RE2. Browsers and JSON Schema validators match the same
    pattern with backtracking engines, so it must also mean the same there (the common
    syntax of RE2 and ECMAScript) and hold no nested repetition such as ``(a+)+``,
    which takes them exponential time.
    """
    problem = _portability_problem(pattern)
    if problem is not None:
        return problem
    try:
        compile_pattern(pattern)
    except ValueError as error:
        return str(error)
    return None


def _portability_problem(pattern: str) -> str | None:
    """Scan the pattern once: constructs only one engine knows, and nested repetition."""
    repeats_inside = [False]  # per open group: does it hold a repetition?
    i, end = 0, len(pattern)
    while i < end:
        char = pattern[i]
        group_repeats = False
        if char == "\\":
            escaped = pattern[i + 1 : i + 2]
            if escaped in ("A", "z", "Z", "C", "G", "Q", "E"):
                return (
                    f"\\{escaped} is not understood by browsers; use ^, $ or escape each character"
                )
            if escaped in ("p", "P") and pattern[i + 2 : i + 3] != "{":
                return f"write Unicode classes with braces: \\{escaped}{{L}}"
            i += 2
        elif char == "[":
            j = i + 1 + (pattern[i + 1 : i + 2] == "^")
            if pattern[j : j + 1] == "]":
                return "write ] inside [...] as \\]"
            while j < end and pattern[j] != "]":
                if pattern.startswith("[:", j):
                    return "POSIX classes such as [[:alpha:]] are not understood by browsers"
                j += 2 if pattern[j] == "\\" else 1
            i = j + 1
        elif char == "(":
            if pattern.startswith("(?", i) and not pattern.startswith("(?:", i):
                return (
                    "only plain (...) and (?:...) groups are allowed: no inline flags, "
                    "named groups or look-arounds"
                )
            repeats_inside.append(False)
            i += 3 if pattern.startswith("(?:", i) else 1
            continue
        elif char == ")":
            if len(repeats_inside) > 1:
                group_repeats = repeats_inside.pop()
            i += 1
        else:
            i += 1
        length, repeats = _quantifier(pattern, i)
        if repeats and group_repeats:
            return (
                "a repeated group may not itself hold a repetition, as in (a+)+: "
                "browsers would take exponential time to check it; "
                "write the repetition once, e.g. a+ instead of (a+)+"
            )
        repeats_inside[-1] = repeats_inside[-1] or repeats or group_repeats
        i += length
    return None


def _quantifier(pattern: str, at: int) -> tuple[int, bool]:
    """The length of the quantifier at ``at`` (0: none) and whether it repeats."""
    char = pattern[at : at + 1]
    if char in ("*", "+"):
        length, repeats = 1, True
    elif char == "?":
        length, repeats = 1, False
    elif char == "{":
        close = pattern.find("}", at)
        bounds = pattern[at + 1 : close].split(",") if close > at else []
        if not bounds or len(bounds) > 2 or not all(b.isdigit() or b == "" for b in bounds):
            return 0, False
        if not bounds[0]:
            return 0, False
        upper = bounds[-1]
        length, repeats = close - at + 1, upper == "" or int(upper) > 1
    else:
        return 0, False
    if pattern[at + length : at + length + 1] == "?":
        length += 1
    return length, repeats


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

    field: Annotated[str, Field(max_length=SLUG_MAX)]
    equals: Any = None
    in_: list[Any] | None = Field(default=None, alias="in", max_length=500)

    def matches(self, value: Any) -> bool:
        if self.in_ is not None:
            return value in self.in_
        return bool(value == self.equals)


TEAM_PARAMETER = "team"  # the requester's team, in an options source's URL template


class OptionsSource(BaseModel):
    """Where a select or multiselect field fetches its options while the form is filled in:
    an RFC 6570 URL template over the form's fields above it and ``team``, JSONPath
    expressions to the list in the answer and to each option's value and label, and how long
    an answer stands (see docs/catalog-as-code.md, "Live form options")."""

    model_config = ConfigDict(extra="forbid")

    url: Annotated[str, Field(max_length=URL_MAX)]
    items: Annotated[str, Field(min_length=1, max_length=PATH_MAX)] = "$[*]"
    value: Annotated[str, Field(min_length=1, max_length=PATH_MAX)] = "$"
    label: Annotated[str, Field(min_length=1, max_length=PATH_MAX)] | None = None
    cache_seconds: Annotated[int, Field(ge=0, le=86_400)] = 60
    timeout_seconds: Annotated[float, Field(gt=0, le=30)] = 5.0

    @field_validator("url")
    @classmethod
    def _url_is_a_template(cls, value: str) -> str:
        template = _url_template(value)
        _http_url(template.expand({name: "x" for name in template.variable_names}))
        return value

    @field_validator("items", "value", "label")
    @classmethod
    def _path_parses(cls, value: str | None) -> str | None:
        if value is not None:
            json_path(value)
        return value

    @property
    def parameters(self) -> list[str]:
        """The names the URL takes: fields of the form, and ``team``."""
        return sorted(_url_template(self.url).variable_names)


def _url_template(value: str) -> URITemplate:
    if value.count("{") != value.count("}"):
        raise ValueError("has a { without its } (or the other way round)")
    return URITemplate(value)


@lru_cache(maxsize=1024)
def json_path(expression: str) -> JSONPath:
    """The parsed JSONPath expression; ValueError in words when it does not parse."""
    try:
        return parse_json_path(expression)
    except Exception as error:  # the parser raises bare Exceptions for some inputs
        raise ValueError(f"is not a JSONPath expression ({error})") from None


class FormField(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(pattern=FIELD_NAME_RE, max_length=64)]
    label: Name
    type: FieldType = FieldType.TEXT
    required: bool = False
    help: Annotated[str, Field(max_length=REASON_MAX)] = ""
    placeholder: ShortText = ""
    default: Any = None
    min: float | None = Field(default=None, description="Number fields: the smallest value")
    max: float | None = Field(default=None, description="Number fields: the largest value")
    min_date: date | None = Field(default=None, description="Date fields: the earliest date")
    max_date: date | None = Field(default=None, description="Date fields: the latest date")
    not_in_past: bool = Field(
        default=False, description="Date fields: today or later (a date needed by, a start)"
    )
    min_length: Annotated[int, Field(ge=0, le=100_000)] | None = None
    max_length: Annotated[int, Field(ge=1, le=100_000)] | None = Field(
        default=None, description="Default by type: text 1,000, textarea 10,000 characters"
    )
    pattern: Annotated[str, Field(max_length=PATTERN_MAX_LENGTH)] | None = None
    options: list[ShortText] = Field(default_factory=list, max_length=500)
    options_from: OptionsSource | None = Field(
        default=None, description="Select fields: options fetched from a live source"
    )
    show_if: ShowIf | None = None

    @property
    def earliest(self) -> date | None:
        """The earliest date a date field takes today: its ``min_date``, or today when it
        may not lie in the past, whichever is later."""
        bounds = [self.min_date] if self.min_date else []
        if self.not_in_past:
            bounds.append(clock.now().date())
        return max(bounds) if bounds else None

    @property
    def length_limit(self) -> int | None:
        """The most characters a value may have: max_length, or the type's default."""
        if self.max_length is not None:
            return self.max_length
        return DEFAULT_MAX_LENGTH.get(self.type.value)

    @field_validator("pattern")
    @classmethod
    def _pattern_is_safe(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not _stored(info):
            problem = pattern_problem(value)
            if problem is not None:
                raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _options_where_needed(self) -> FormField:
        choice = self.type in (FieldType.SELECT, FieldType.MULTISELECT)
        if self.options_from is not None and not choice:
            raise ValueError(f"options_from is for select and multiselect fields, not {self.type}")
        if self.options_from is not None and self.options:
            raise ValueError(f"field {self.name!r} has both options and options_from; keep one")
        if choice and not self.options and self.options_from is None:
            raise ValueError(f"{self.type.value} field {self.name!r} needs options")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is greater than max")
        if self.min_date and self.max_date and self.min_date > self.max_date:
            raise ValueError("the earliest date is later than the latest date")
        return self


class RequestForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fields: list[FormField] = Field(default_factory=list, max_length=200)

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
            source = form_field.options_from
            for name in source.parameters if source else []:
                if name != TEAM_PARAMETER and name not in seen:
                    raise ValueError(
                        f"the options URL of {form_field.name!r} names {{{name}}}, which is "
                        f"neither a field above it nor {{{TEAM_PARAMETER}}}"
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
    url: Annotated[str, Field(max_length=URL_MAX)]
    timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 10.0
    max_attempts: Annotated[int, Field(ge=1, le=25)] = 5

    _check_url = field_validator("url")(_http_url)


class PluginFulfilment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["plugin"] = "plugin"
    plugin: ShortText
    settings: dict[str, Any] = Field(default_factory=dict)
    max_attempts: Annotated[int, Field(ge=1, le=25)] = 5


class ManualFulfilment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["manual"] = "manual"
    checklist: list[Annotated[str, Field(max_length=SUMMARY_MAX)]] = Field(
        default_factory=list, max_length=100
    )
    max_attempts: int = 1


SingleFulfilment = Annotated[
    WebhookFulfilment | PluginFulfilment | ManualFulfilment, Field(discriminator="kind")
]

STEPS_MAX = 20
StepName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=SLUG_MAX)]
OutputName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=SLUG_MAX)]
Template = Annotated[str, Field(max_length=SUMMARY_MAX)]


class _StepParts(BaseModel):
    """What every step of a pipeline has beside its kind's own settings."""

    name: StepName = "fulfil"
    when: Annotated[str, Field(max_length=CONDITION_MAX)] = Field(
        default="", description="A condition on the inputs; the step is skipped when false"
    )
    outputs: list[OutputName] = Field(
        default_factory=list,
        max_length=100,
        description="The outputs later steps may refer to as steps.<name>.outputs.<output>",
    )
    params: dict[OutputName, Template] = Field(
        default_factory=dict,
        max_length=100,
        description="Values given to the step, templates over inputs and earlier outputs",
    )

    @field_validator("when")
    @classmethod
    def _when_parses(cls, value: str) -> str:
        if value.strip():
            try:
                parse(value)
            except ConditionError as error:
                raise ValueError(f"condition {value!r}: {error}") from None
        return value.strip()


class WebhookStep(WebhookFulfilment, _StepParts):
    cancel_url: Annotated[str, Field(max_length=URL_MAX)] = Field(
        default="", description="Called (signed) when the request is cancelled during the step"
    )

    @field_validator("cancel_url")
    @classmethod
    def _cancel_url_is_http(cls, value: str) -> str:
        return _http_url(value) if value else value


class PluginStep(PluginFulfilment, _StepParts):
    timeout_seconds: Annotated[float, Field(gt=0, le=24 * 3600)] = 300.0


class ManualStep(ManualFulfilment, _StepParts):
    pass


PipelineStep = Annotated[WebhookStep | PluginStep | ManualStep, Field(discriminator="kind")]


class PipelineFulfilment(BaseModel):
    """An ordered list of steps; a step sees the inputs and the outputs of earlier steps."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["pipeline"] = "pipeline"
    steps: list[PipelineStep] = Field(min_length=1, max_length=STEPS_MAX)

    @model_validator(mode="after")
    def _names_unique_and_references_known(self) -> PipelineFulfilment:
        from servicebay.catalog.templates import unknown_references

        declared: dict[str, set[str]] = {}
        for position, step in enumerate(self.steps, start=1):
            if step.name in declared:
                raise ValueError(f"step name {step.name!r} is used twice")
            texts = list(step.params.values())
            if isinstance(step, ManualStep):
                texts += step.checklist
            for problem in unknown_references(texts, earlier=declared):
                raise ValueError(f"step {position} ({step.name}): {problem}")
            declared[step.name] = set(step.outputs)
        return self


FulfilmentSpec = Annotated[
    WebhookFulfilment | PluginFulfilment | ManualFulfilment | PipelineFulfilment,
    Field(discriminator="kind"),
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
    team: str | None = Field(
        default=None, max_length=SLUG_MAX, description="Team slug when decider is 'team'"
    )
    condition: str | None = Field(
        default=None, max_length=CONDITION_MAX, description='e.g. cost > 500 and region == "eu"'
    )

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

    steps: list[ApprovalStep] = Field(default_factory=list, max_length=20)

    def check_fields(self, known: set[str]) -> None:
        for step in self.steps:
            if step.condition:
                unknown = sorted(fields_of(parse(step.condition)) - known)
                if unknown:
                    raise ValueError(
                        f"condition of step {step.name!r} names unknown field(s): "
                        + ", ".join(unknown)
                    )


class OperationRunner(StrEnum):
    """Who may run a day-2 operation on an instance."""

    OWNER = "owner"  # the person who owns the instance (who requested it)
    TEAM_LEADS = "team_leads"  # leads of the instance's team
    TEAM = "team"  # any member of the instance's team
    OPS = "ops"  # members of the offering's owner team


class Operation(BaseModel):
    """A day-2 action on an instance: its own form (prefilled from the instance's spec),
    approval policy, fulfilment and who may run it. ``retires`` marks the operation that
    decommissions the instance."""

    model_config = ConfigDict(extra="forbid")

    name: Slug
    label: ShortText = ""
    description: Annotated[str, Field(max_length=SUMMARY_MAX)] = ""
    form: RequestForm = Field(default_factory=RequestForm)
    approval_policy: ApprovalPolicy = Field(default_factory=ApprovalPolicy)
    fulfilment: FulfilmentSpec = Field(default_factory=lambda: ManualFulfilment())
    allowed: list[OperationRunner] = Field(
        default_factory=lambda: [
            OperationRunner.OWNER,
            OperationRunner.TEAM_LEADS,
            OperationRunner.OPS,
        ],
        min_length=1,
    )
    retires: bool = False

    @property
    def title(self) -> str:
        return self.label or self.name.replace("-", " ").capitalize()

    @model_validator(mode="after")
    def _policy_names_its_fields(self) -> Operation:
        try:
            self.approval_policy.check_fields(set(self.form.field_names()))
        except ValueError as error:
            raise ValueError(f"operation {self.name!r}: {error}") from None
        return self


class Lifetime(BaseModel):
    """How long an instance lives: ``days`` from when it becomes active, or the answer of
    the number field ``field`` (at most ``max_days``); reminders ``remind_days_before``
    expiry; each extension adds ``extend_days`` (none when unset), never past ``max_days``
    from creation. At expiry the operation that retires the instance is requested."""

    model_config = ConfigDict(extra="forbid")

    days: Annotated[int, Field(ge=1, le=3660)] = 30
    field: str | None = Field(default=None, max_length=64)
    max_days: Annotated[int, Field(ge=1, le=3660)] | None = None
    remind_days_before: list[Annotated[int, Field(ge=0, le=365)]] = Field(
        default_factory=lambda: [7, 1], max_length=10
    )
    extend_days: Annotated[int, Field(ge=1, le=3660)] | None = None


class InstancesSpec(BaseModel):
    """A fulfilled request makes an instance: ``name_field`` names the form field whose
    answer names it (else the offering's name and the request number)."""

    model_config = ConfigDict(extra="forbid")

    name_field: str | None = Field(default=None, max_length=64)
    operations: list[Operation] = Field(default_factory=list, max_length=20)
    lifetime: Lifetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_yaml_text(cls, value: Any) -> Any:
        """The editor sends the section as YAML text, as it reads in a catalog file."""
        if not isinstance(value, str):
            return value
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError as error:
            raise ValueError(f"the instances section is not valid YAML: {error}") from None
        if not isinstance(parsed, dict):
            raise ValueError("the instances section must be a mapping (name_field, operations)")
        return parsed

    @model_validator(mode="after")
    def _operation_names_unique(self) -> InstancesSpec:
        names = [operation.name for operation in self.operations]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError("operation names must be unique: " + ", ".join(twice))
        if self.lifetime is not None and not any(op.retires for op in self.operations):
            raise ValueError("a lifetime needs an operation that retires the instance")
        return self

    @property
    def retiring_operation(self) -> Operation | None:
        return next((op for op in self.operations if op.retires), None)

    def operation(self, name: str) -> Operation | None:
        return next((op for op in self.operations if op.name == name), None)


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

    slug: Slug
    name: Name
    summary: Annotated[str, Field(max_length=SUMMARY_MAX)] = ""
    description: Annotated[str, Field(max_length=DESCRIPTION_MAX)] = ""
    category: Annotated[str, Field(max_length=100)] = "General"
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    keywords: list[Tag] = Field(
        default_factory=list,
        max_length=50,
        description='Other words people search for it by, such as "k8s" or "db"',
    )
    owner_team: Annotated[str, Field(max_length=SLUG_MAX)]
    contact: ShortText = ""
    runbook_url: Annotated[str, Field(max_length=URL_MAX)] = ""
    work_kind: WorkKind = WorkKind.STANDARD
    visibility: list[Slug] = Field(
        default_factory=list,
        max_length=200,
        description="Team slugs that may see it; empty: everyone",
    )
    no_input_needed: bool = False
    form: RequestForm = Field(default_factory=RequestForm)
    approval_policy: ApprovalPolicy = Field(default_factory=ApprovalPolicy)
    fulfilment: FulfilmentSpec
    webhook_secret: str | None = Field(
        default=None, max_length=1_000, description="Write-only signing secret"
    )
    sle: ServiceLevel | None = None
    cost: Annotated[float, Field(ge=0)] = 0.0
    manual_effort_minutes: Annotated[int, Field(ge=0)] = 0
    quota: Quota | None = None
    instances: InstancesSpec | None = Field(
        default=None, description="Set when a fulfilled request makes an instance"
    )

    @field_validator("runbook_url")
    @classmethod
    def _runbook_is_http(cls, value: str) -> str:
        return _http_url(value) if value else value

    @model_validator(mode="after")
    def _policy_names_form_fields(self) -> OfferingIn:
        self.approval_policy.check_fields(set(self.form.field_names()))
        if isinstance(self.fulfilment, PipelineFulfilment):
            known = set(self.form.field_names())
            for position, step in enumerate(self.fulfilment.steps, start=1):
                unknown = sorted(fields_of(parse(step.when)) - known) if step.when else []
                if unknown:
                    raise ValueError(
                        f"the condition of step {position} ({step.name}) names "
                        f"{', '.join(unknown)}, which the form does not have"
                    )
        if (
            self.instances is not None
            and self.instances.name_field
            and self.instances.name_field not in self.form.field_names()
        ):
            raise ValueError(
                f"instances.name_field names unknown field {self.instances.name_field!r}"
            )
        lifetime = self.instances.lifetime if self.instances is not None else None
        field = lifetime.field if lifetime is not None else None
        if field and field not in self.form.field_names():
            raise ValueError(f"instances.lifetime.field names unknown field {field!r}")
        return self


class OfferingOut(BaseModel):
    """An offering as the API shows it: the current version, never a webhook secret."""

    slug: str
    name: str
    summary: str
    description: str
    category: str
    tags: list[str]
    keywords: list[str] = Field(default_factory=list)
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
    fulfilment: dict[str, Any] = Field(
        description="All settings for the owner team and admins; only the kind for others"
    )
    signing_secret_set: bool | None = Field(
        default=None, description="Whether a webhook secret is saved; owner team and admins"
    )
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


class DemandOut(BaseModel):
    """A demand as the API answers it, read from the row's attributes."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    description: str
    urgency: str
    state: str
    decline_reason: str
    votes: int
    offering_id: int | None
    team_id: int | None
    merged_into: int | None = Field(
        validation_alias="merged_into_id",
        description="When merged: the id of the demand it was merged into, where its votes count",
    )
    created_at: datetime


class OptionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    value: str
    label: str


class FieldOptionsOut(BaseModel):
    """A choice field's options for the answers given: ``ready`` is false while fields it
    depends on are unanswered (``waiting_for``) or its source cannot be read (``problem``);
    then no value can be submitted for it."""

    model_config = ConfigDict(from_attributes=True)

    field: str
    ready: bool
    options: list[OptionOut]
    waiting_for: list[str]
    problem: str | None
