"""Catalog-as-code: offerings as YAML files (one per file), planned, applied and exported.

The format is documented in docs/catalog-as-code.md. Applying is all-or-nothing: every
file is read and validated before anything is written, and the caller's transaction is
rolled back if any write is refused.

Files come from people who may not be trusted with the server: they are parsed with
limits (size, node count, depth, no anchors or aliases), the caller's right to apply
catalog files at all is checked before a file is read, and a webhook secret is taken
only from a variable an administrator offered by name (``SecretSource``).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from servicebay.catalog import policies, service
from servicebay.catalog.errors import CatalogError, CatalogPermissionDenied
from servicebay.catalog.models import Offering, OfferingVersion
from servicebay.catalog.pipeline import as_pipeline
from servicebay.catalog.schemas import OfferingIn, OfferingStatus
from servicebay.core import validation
from servicebay.core.errors import Invalid
from servicebay.core.identity import Team, User
from servicebay.core.settings import VARIABLE_NAME, is_server_variable

STATUSES = ("draft", "published", "deprecated", "retired")

# Limits on what one apply may make the server read. An offering with a hundred form
# fields is some 3,000 YAML nodes and 30 KB.
MAX_FILES = 500
MAX_FILE_CHARACTERS = 256 * 1024
MAX_NODES = 10_000
MAX_DEPTH = 32


@dataclass(frozen=True)
class SecretSource:
    """Where a file's ``webhook_secret_env`` is looked up.

    ``offered`` names the variables an administrator lets catalog files use
    (``SERVICEBAY_CATALOG_SECRET_VARIABLES``); ``None`` means every variable of
    ``environ``, which only the operator's command line asks for. A name that is not
    offered and a name that is offered but not set get the same answer, so a caller
    learns nothing about the server's environment. ``SERVICEBAY_*`` is never read.
    """

    offered: frozenset[str] | None = frozenset()
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)

    @classmethod
    def allow_listed(
        cls, names: list[str], environ: Mapping[str, str] | None = None
    ) -> SecretSource:
        return cls(frozenset(names), os.environ if environ is None else environ)

    @classmethod
    def whole_environment(cls, environ: Mapping[str, str] | None = None) -> SecretSource:
        return cls(None, os.environ if environ is None else environ)

    def lookup(self, name: str) -> str | None:
        if is_server_variable(name):
            return None
        if self.offered is not None and name not in self.offered:
            return None
        return self.environ.get(name)

    def unavailable(self, name: str) -> str:
        if self.offered is None and not is_server_variable(name):
            return f"environment variable {name} is not set"
        return (
            f"{name} is not a secret variable this server offers to catalog files "
            "(an administrator lists them in SERVICEBAY_CATALOG_SECRET_VARIABLES)"
        )


NO_SECRETS = SecretSource()


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


class CatalogFilesInvalid(CatalogError, Invalid):
    """One or more files cannot be applied; nothing was written."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(
            "\n".join(str(problem) for problem in problems),
            {f"{p.file}:{p.line}: {p.field}": p.message for p in problems},
        )
        self.file_problems = problems


@dataclass
class OfferingFile:
    """One file, read and validated: the desired state of one offering."""

    file: str
    definition: OfferingIn
    status: str
    secret_env: str | None
    replacement: str | None
    deprecation_notice: str
    node: yaml.Node | None = None


@dataclass(frozen=True)
class PlanEntry:
    slug: str
    action: str  # created | changed | unchanged | deprecate
    file: str = ""
    changes: tuple[str, ...] = ()

    def __str__(self) -> str:
        detail = f" ({', '.join(self.changes)})" if self.changes else ""
        where = f"  [{self.file}]" if self.file else ""
        verb = "would deprecate" if self.action == "deprecate" else self.action
        return f"{verb:<16}{self.slug}{detail}{where}"


@dataclass
class Plan:
    entries: list[PlanEntry] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for entry in self.entries if entry.action == action)

    def summary(self) -> str:
        return (
            f"{self.count('created')} created, {self.count('changed')} changed, "
            f"{self.count('unchanged')} unchanged, {self.count('deprecate')} to deprecate"
        )


# --- reading -------------------------------------------------------------------


def read_folder(path: Path) -> dict[str, str]:
    """Every .yaml/.yml file under ``path`` (or the one file), by its relative name."""
    if path.is_file():
        return {path.name: path.read_text(encoding="utf-8")}
    if not path.is_dir():
        raise CatalogFilesInvalid([Problem(str(path), 0, "path", "no such file or folder")])
    files = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    return {str(p.relative_to(path)): p.read_text(encoding="utf-8") for p in files}


class CatalogLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing anchors and aliases and counting what it builds.

    An alias makes the loader reuse a node, so a few hundred bytes of nested aliases
    ("billion laughs") expand to gigabytes; catalog files never need them. The node
    and depth limits bound what a document without aliases can make the server build.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.nodes = 0
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(
                None, None, "anchors and aliases (& and *) are not allowed", event.start_mark
            )
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise yaml.composer.ComposerError(
                None, None, f"a file may hold at most {MAX_NODES} values", event.start_mark
            )
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"values may nest at most {MAX_DEPTH} deep", event.start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """A value Python cannot make (a 5,000-digit number, the 13th month) is the
        file's problem, with its line, never the server's."""
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as error:
            raise yaml.constructor.ConstructorError(
                None, None, str(error), node.start_mark
            ) from None


def load(text: str) -> tuple[yaml.Node | None, Any]:
    """One YAML document as its node tree (for line numbers) and its value."""
    loader = CatalogLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    return node, data


def parse_files(
    files: Mapping[str, str], *, secrets: SecretSource = NO_SECRETS
) -> list[OfferingFile]:
    """Validate every file; raise CatalogFilesInvalid naming file, line and field."""
    if len(files) > MAX_FILES:
        raise CatalogFilesInvalid(
            [Problem("files", 0, "files", f"at most {MAX_FILES} files may be applied at once")]
        )
    problems: list[Problem] = []
    parsed: list[OfferingFile] = []
    for name, text in files.items():
        try:
            parsed.append(_parse_one(name, text, secrets))
        except CatalogFilesInvalid as invalid:
            problems.extend(invalid.file_problems)
    seen: dict[str, OfferingFile] = {}
    for offering_file in parsed:
        slug = offering_file.definition.slug
        if slug in seen:
            problems.append(
                Problem(
                    offering_file.file,
                    _line(offering_file.node, ["slug"]),
                    "slug",
                    f"{slug!r} is defined in {seen[slug].file} too",
                )
            )
        seen[slug] = offering_file
    if problems:
        raise CatalogFilesInvalid(problems)
    return parsed


def _parse_one(name: str, text: str, secrets: SecretSource) -> OfferingFile:
    if len(text) > MAX_FILE_CHARACTERS:
        raise CatalogFilesInvalid(
            [Problem(name, 0, "file", f"a file may hold at most {MAX_FILE_CHARACTERS} characters")]
        )
    try:
        node, data = load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        message = str(getattr(error, "problem", None) or error)
        raise CatalogFilesInvalid([Problem(name, line, "yaml", message)]) from None
    if not isinstance(data, dict):
        raise CatalogFilesInvalid([Problem(name, 1, "file", "must hold one offering (a mapping)")])
    problems: list[Problem] = []
    status = data.pop("status", "published")
    if status not in STATUSES:
        problems.append(
            Problem(
                name, _line(node, ["status"]), "status", f"must be one of {', '.join(STATUSES)}"
            )
        )
    secret_env = data.pop("webhook_secret_env", None)
    replacement = data.pop("replacement", None)
    notice = data.pop("deprecation_notice", "") or ""
    if "webhook_secret" in data:
        problems.append(
            Problem(
                name,
                _line(node, ["webhook_secret"]),
                "webhook_secret",
                "secrets are never written in files; name a secret variable "
                "with webhook_secret_env",
            )
        )
        data.pop("webhook_secret")
    if secret_env is not None:
        if not isinstance(secret_env, str) or not VARIABLE_NAME.match(secret_env):
            problems.append(
                Problem(
                    name,
                    _line(node, ["webhook_secret_env"]),
                    "webhook_secret_env",
                    "must be an environment variable name",
                )
            )
        elif (secret := secrets.lookup(secret_env)) is None:
            problems.append(
                Problem(
                    name,
                    _line(node, ["webhook_secret_env"]),
                    "webhook_secret_env",
                    secrets.unavailable(secret_env),
                )
            )
        else:
            data["webhook_secret"] = secret
    try:
        definition = OfferingIn.model_validate(data)
    except ValidationError as error:
        for item in error.errors():
            loc = [part for part in item["loc"]]
            problems.append(
                Problem(
                    name,
                    _line(node, loc),
                    ".".join(str(part) for part in loc) or "offering",
                    _in_words(item),
                )
            )
        raise CatalogFilesInvalid(problems) from None
    if problems:
        raise CatalogFilesInvalid(problems)
    return OfferingFile(
        file=name,
        definition=definition,
        status=str(status),
        secret_env=secret_env,
        replacement=str(replacement) if replacement else None,
        deprecation_notice=str(notice),
        node=node,
    )


def _in_words(error: Any) -> str:
    """One validation error as the sentence the editor and the API show for it."""
    worded = validation.problems_in_words([error], labels=service.OFFERING_LABELS)
    return next(iter(worded.values()))


def _line(node: yaml.Node | None, loc: list[Any]) -> int:
    """The line of the deepest YAML node along a validation error's path."""
    if node is None:
        return 0
    found = node
    for part in loc:
        child = _child(found, part)
        if child is not None:
            found = child
    return int(found.start_mark.line) + 1


def _child(node: yaml.Node, part: Any) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if getattr(key, "value", None) == str(part):
                return value  # type: ignore[no-any-return]
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return node.value[part]  # type: ignore[no-any-return]
    return None


# --- planning and applying -----------------------------------------------------


def plan(session: Session, wanted: list[OfferingFile]) -> Plan:
    """What applying would do, without writing anything."""
    result = Plan()
    slugs = {f.definition.slug for f in wanted}
    for offering_file in wanted:
        offering = _existing(session, offering_file.definition.slug)
        if offering is None:
            result.entries.append(
                PlanEntry(offering_file.definition.slug, "created", offering_file.file)
            )
            continue
        changes = _changes(session, offering, offering_file)
        action = "changed" if changes else "unchanged"
        result.entries.append(
            PlanEntry(offering_file.definition.slug, action, offering_file.file, tuple(changes))
        )
    for offering in _left_out(session, wanted, slugs):
        result.entries.append(PlanEntry(offering.slug, "deprecate"))
    return result


def apply(
    session: Session,
    *,
    actor: User | None,
    files: Mapping[str, str],
    dry_run: bool = False,
    secrets: SecretSource = NO_SECRETS,
) -> Plan:
    """Validate every file, plan, and (unless a dry run) bring the catalog to the files.

    ``actor`` None is the operator (command line), with every right. Anyone else must be
    allowed catalog files at all before a file is read. Nothing is committed here; a
    refused write raises, and the caller rolls back.
    """
    if actor is not None and not policies.can_apply_catalog_files(actor):
        raise CatalogPermissionDenied("catalog files are for members of a team that owns offerings")
    wanted = parse_files(files, secrets=secrets)
    _check_teams(session, wanted)
    result = plan(session, wanted)
    by_slug = {f.definition.slug: f for f in wanted}
    if actor is not None:
        _check_may_apply(session, actor, result, by_slug)
    if dry_run:
        return result
    problems: list[Problem] = []

    def deprecates(entry: PlanEntry) -> bool:
        wanted_file = by_slug.get(entry.slug)
        return entry.action == "deprecate" or (
            wanted_file is not None and wanted_file.status == "deprecated"
        )

    # Deprecations last, so a replacement defined in the same files exists by then.
    for entry in sorted(result.entries, key=deprecates):
        try:
            _carry_out(session, actor, entry, by_slug.get(entry.slug))
        except CatalogPermissionDenied:
            raise
        except CatalogError as error:
            offering_file = by_slug.get(entry.slug)
            problems.extend(_problems_of(error, offering_file, entry))
    if problems:
        raise CatalogFilesInvalid(problems)
    return result


def _check_may_apply(
    session: Session, actor: User, result: Plan, by_slug: Mapping[str, OfferingFile]
) -> None:
    """A plan, even a dry run, is only for who could carry out each of its changes."""
    for entry in result.entries:
        if entry.action == "unchanged":
            continue
        offering = _existing(session, entry.slug)
        offering_file = by_slug.get(entry.slug)
        team_id = None
        if offering_file is not None:
            team_slug = offering_file.definition.owner_team
            team_id = session.scalar(select(Team.id).where(Team.slug == team_slug))
        if not policies.can_apply_catalog_entry(
            actor, action=entry.action, offering=offering, team_id=team_id
        ):
            raise CatalogPermissionDenied(
                f"you may not {entry.action.rstrip('d')} offering {entry.slug!r}"
            )


def _carry_out(
    session: Session, actor: User | None, entry: PlanEntry, offering_file: OfferingFile | None
) -> None:
    if entry.action == "deprecate":
        offering = _existing(session, entry.slug)
        assert offering is not None
        service.deprecate(
            session,
            actor=actor,
            offering=offering,
            notice="No longer defined in the catalog files.",
        )
        return
    if entry.action == "unchanged" or offering_file is None:
        return
    definition = offering_file.definition
    offering = _existing(session, definition.slug)
    if offering is None:
        offering = service.create_offering(
            session, actor=actor, definition=definition, secret_env=offering_file.secret_env
        )
    elif _definition_differs(session, offering, offering_file):
        service.update_offering(
            session,
            actor=actor,
            offering=offering,
            definition=definition,
            secret_env=offering_file.secret_env,
        )
    _reach_status(session, actor, offering, offering_file)


def _reach_status(
    session: Session, actor: User | None, offering: Offering, offering_file: OfferingFile
) -> None:
    status = offering_file.status
    if status == "draft":
        return
    if status == "retired":
        if offering.status != OfferingStatus.RETIRED.value:
            service.retire(session, actor=actor, offering=offering)
        return
    draft = service.draft_version(session, offering)
    settled = ("published",) if status == "published" else ("published", "deprecated")
    if draft is not None or offering.status not in settled:
        # A dry run is an interactive check; files are published on the other checks.
        service.publish(session, actor=actor, offering=offering, skip_checks=("dry_run",))
    if status == "deprecated":
        if offering.status == OfferingStatus.PUBLISHED.value:
            service.deprecate(
                session,
                actor=actor,
                offering=offering,
                replacement=offering_file.replacement,
                notice=offering_file.deprecation_notice,
            )
        else:
            offering.replacement_slug = offering_file.replacement
            offering.deprecation_notice = offering_file.deprecation_notice


def _problems_of(
    error: CatalogError, offering_file: OfferingFile | None, entry: PlanEntry
) -> list[Problem]:
    name = offering_file.file if offering_file else entry.slug
    node = offering_file.node if offering_file else None
    problems = getattr(error, "problems", None)
    if isinstance(problems, dict) and problems:
        return [
            Problem(name, _line(node, path.split(".")), path, message)
            for path, message in problems.items()
        ]
    return [Problem(name, _line(node, []), entry.slug, str(error))]


def _check_teams(session: Session, wanted: list[OfferingFile]) -> None:
    problems = []
    for offering_file in wanted:
        team = offering_file.definition.owner_team
        if session.scalar(select(Team.id).where(Team.slug == team)) is None:
            problems.append(
                Problem(
                    offering_file.file,
                    _line(offering_file.node, ["owner_team"]),
                    "owner_team",
                    f"no team {team!r}",
                )
            )
    if problems:
        raise CatalogFilesInvalid(problems)


def _existing(session: Session, slug: str) -> Offering | None:
    return session.scalar(select(Offering).where(Offering.slug == slug))


def _left_out(session: Session, wanted: list[OfferingFile], slugs: set[str]) -> list[Offering]:
    """Published offerings of the files' teams that no file defines any more."""
    teams = {f.definition.owner_team for f in wanted}
    if not teams:
        return []
    statement = (
        select(Offering)
        .join(Team, Team.id == Offering.owner_team_id)
        .where(Team.slug.in_(teams), Offering.status == OfferingStatus.PUBLISHED.value)
        .order_by(Offering.slug)
    )
    return [o for o in session.scalars(statement).unique() if o.slug not in slugs]


def _compared_version(
    session: Session, offering: Offering, offering_file: OfferingFile
) -> OfferingVersion:
    """A draft file is compared with the newest version; others with the current one."""
    if offering_file.status == "draft" or offering.current_version is None:
        return service.head_version(session, offering)
    return offering.current_version


def _definition_differs(session: Session, offering: Offering, offering_file: OfferingFile) -> bool:
    version = _compared_version(session, offering, offering_file)
    return bool(_definition_changes(offering, version, offering_file))


def _definition_changes(
    offering: Offering, version: OfferingVersion, offering_file: OfferingFile
) -> list[str]:
    have = _comparable(service.definition_of(offering, version))
    want = _comparable(offering_file.definition)
    changes = [key for key in want if have.get(key) != want[key]]
    if (
        any(
            step.kind == "webhook"
            for step in as_pipeline(offering_file.definition.fulfilment).steps
        )
        and offering_file.definition.webhook_secret is not None
        and offering_file.definition.webhook_secret != version.webhook_secret
    ):
        changes.append("webhook_secret")
    if offering_file.secret_env != service.secret_env_of(version):
        changes.append("webhook_secret_env")
    return changes


def _changes(session: Session, offering: Offering, offering_file: OfferingFile) -> list[str]:
    version = _compared_version(session, offering, offering_file)
    changes = _definition_changes(offering, version, offering_file)
    if offering.status != offering_file.status and not (
        offering_file.status == "draft" and offering.status != "draft"
    ):
        changes.append(f"status {offering.status} → {offering_file.status}")
    if offering_file.status == "deprecated" and (
        offering.replacement_slug != offering_file.replacement
        or offering.deprecation_notice != offering_file.deprecation_notice
    ):
        changes.append("deprecation")
    return changes


def _comparable(definition: OfferingIn) -> dict[str, Any]:
    return definition.model_dump(mode="json", by_alias=True, exclude={"webhook_secret"})


# --- exporting -----------------------------------------------------------------


def export(session: Session) -> dict[str, str]:
    """Every offering as a file ``<team>/<slug>.yaml``; applying them changes nothing."""
    files: dict[str, str] = {}
    statement = select(Offering).order_by(Offering.slug)
    for offering in session.scalars(statement).unique():
        files[f"{offering.owner_team.slug}/{offering.slug}.yaml"] = export_one(session, offering)
    return files


def export_one(session: Session, offering: Offering) -> str:
    if offering.status == "draft" or offering.current_version is None:
        version = service.head_version(session, offering)
    else:
        version = offering.current_version
    return dump(offering_document(offering, version))


def offering_document(offering: Offering, version: OfferingVersion) -> dict[str, Any]:
    """A version as the YAML document of its offering (defaults left out)."""
    definition = service.definition_of(offering, version)
    full = definition.model_dump(mode="json", by_alias=True, exclude={"webhook_secret"})
    full["form"] = definition.form.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    full["approval_policy"] = definition.approval_policy.model_dump(mode="json", exclude_none=True)
    defaults = OfferingIn.model_validate(
        {"slug": "x", "name": "x", "owner_team": "x", "fulfilment": {"kind": "manual"}}
    ).model_dump(mode="json", by_alias=True)
    document: dict[str, Any] = {"status": offering.status if offering.status else "draft"}
    for key, value in full.items():
        required = key in ("slug", "name", "owner_team", "fulfilment")
        if required or (
            value != defaults.get(key) and value not in ({}, {"fields": []}, {"steps": []})
        ):
            document[key] = value
    secret_env = service.secret_env_of(version)
    if secret_env:
        document["webhook_secret_env"] = secret_env
    if offering.status == "deprecated":
        if offering.replacement_slug:
            document["replacement"] = offering.replacement_slug
        if offering.deprecation_notice:
            document["deprecation_notice"] = offering.deprecation_notice
    order = ["slug", "name", "status", "owner_team"]
    return {k: document[k] for k in order if k in document} | {
        k: v for k, v in document.items() if k not in order
    }


def diff(offering: Offering, older: OfferingVersion, newer: OfferingVersion) -> list[str]:
    """A readable line diff between two versions, as their YAML documents."""
    before = dump(_version_document(offering, older)).splitlines()
    after = dump(_version_document(offering, newer)).splitlines()
    return list(
        difflib.unified_diff(
            before, after, f"version {older.number}", f"version {newer.number}", lineterm=""
        )
    )


def _version_document(offering: Offering, version: OfferingVersion) -> dict[str, Any]:
    document = offering_document(offering, version)
    document.pop("status", None)
    document.pop("replacement", None)
    document.pop("deprecation_notice", None)
    return document


class _Dumper(yaml.SafeDumper):
    pass


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def dump(document: dict[str, Any]) -> str:
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def write_folder(path: Path, files: Mapping[str, str]) -> None:
    for name, text in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
