"""The `servicebay` command."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import click

from servicebay.core import identity, logs, migrations
from servicebay.core.database import make_engine, make_sessionmaker, transaction
from servicebay.core.identity import IdentityError, Role
from servicebay.core.settings import Settings, SettingsError, load_settings


class Context:
    """Settings are read once, lazily, so `--help` works with broken settings."""

    def __init__(self) -> None:
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings()
            except SettingsError as error:
                raise click.ClickException(str(error)) from None
            if self._settings.is_sqlite:
                self._settings.data_dir.mkdir(parents=True, exist_ok=True)
            self._settings.configure_secrets()
        return self._settings


pass_context = click.make_pass_decorator(Context, ensure=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """servicebay: service catalog and self-service portal."""


def _sessions(settings: Settings) -> Any:
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return make_sessionmaker(make_engine(settings.effective_database_url))


def _upgrade(settings: Settings) -> None:
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrations.upgrade(settings.effective_database_url)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--with-worker/--no-worker",
    default=None,
    help="Run the fulfilment worker in this process (default: on with SQLite, off otherwise).",
)
@click.option(
    "--workers",
    "processes",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Web processes sharing the port.",
)
@pass_context
def serve(ctx: Context, host: str, port: int, with_worker: bool | None, processes: int) -> None:
    """Run the web portal and API."""
    import uvicorn

    from servicebay.portal.app import create_app

    settings = ctx.settings
    if settings.is_sqlite:
        _upgrade(settings)
    run_worker = settings.is_sqlite if with_worker is None else with_worker
    click.echo(
        f"servicebay on http://{host}:{port}: {processes} web process(es), "
        f"{'with' if run_worker else 'no'} in-process worker"
    )
    logs.configure(settings.log_level)
    if processes == 1:
        app = create_app(settings, run_worker=run_worker)
        uvicorn.run(
            app,
            host=host,
            port=port,
            proxy_headers=False,  # the app believes forwarded headers only from its proxies
            log_level=settings.log_level,
            log_config=None,
        )
        return
    # Child processes read their settings from the environment: hand them the same
    # secret key (it may have been generated just now) and the worker choice.
    os.environ["SERVICEBAY_SECRET_KEY"] = settings.resolved_secret_key()
    os.environ[WITH_WORKER_VARIABLE] = "1" if run_worker else "0"
    _share_metrics_between_processes()
    uvicorn.run(
        "servicebay.portal.cli:app_from_environment",
        factory=True,
        workers=processes,
        host=host,
        port=port,
        proxy_headers=False,
        log_level=settings.log_level,
        log_config=None,
    )


WITH_WORKER_VARIABLE = "SERVICEBAY_SERVE_WITH_WORKER"
METRICS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def _share_metrics_between_processes() -> None:
    """Give the web processes one folder for their counters, so each /metrics adds them up.

    A folder you set yourself is emptied first: counts of a previous run must not add up.
    """
    folder = os.environ.get(METRICS_VARIABLE)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        Path(folder).mkdir(parents=True)
    else:
        os.environ[METRICS_VARIABLE] = tempfile.mkdtemp(prefix="servicebay-metrics-")


def app_from_environment() -> Any:
    """The app of one of several web processes started by `serve --workers N`."""
    from servicebay.portal.app import create_app

    settings = load_settings()
    logs.configure(settings.log_level)
    return create_app(settings, run_worker=os.environ.get(WITH_WORKER_VARIABLE) == "1")


@main.command()
@click.option(
    "--concurrency",
    default=4,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Runs worked on at the same time.",
)
@pass_context
def worker(ctx: Context, concurrency: int) -> None:
    """Run a fulfilment worker until stopped (SIGTERM or Ctrl-C).

    Claims due runs with SELECT ... FOR UPDATE SKIP LOCKED, holds a lease on each
    and renews it while working; start as many as you like on PostgreSQL.
    """
    from servicebay.analytics import digest, rollup
    from servicebay.requests import expiry, notifications
    from servicebay.requests.fulfilment import mail
    from servicebay.requests.fulfilment.worker import Worker

    settings = ctx.settings
    logs.configure(settings.log_level)
    sessions = _sessions(settings)
    notifications.configure(sessions, email=mail.configured(settings), base_url=settings.base_url)
    fulfilment_worker = Worker(
        sessions,
        settings,
        concurrency=concurrency,
        chores=(rollup.refresh, digest.send_due, expiry.send_due),
    )
    stop = threading.Event()

    def shut_down(*_: object) -> None:
        stop.set()
        fulfilment_worker.wake()

    signal.signal(signal.SIGTERM, shut_down)
    signal.signal(signal.SIGINT, shut_down)
    fulfilment_worker.run_forever(stop)


@main.command("mcp")
@click.option(
    "--token",
    default=None,
    help="The API token to act with (its scopes limit the tools); default: SERVICEBAY_MCP_TOKEN.",
)
@pass_context
def mcp_stdio(ctx: Context, token: str | None) -> None:
    """Serve the agent tools over stdio (MCP), for an assistant that starts this command.

    Logs go to stderr; stdout carries only the protocol.
    """
    from servicebay.portal import mcp
    from servicebay.requests import notifications
    from servicebay.requests.fulfilment import mail

    settings = ctx.settings
    logs.configure(settings.log_level)
    value = (token or settings.mcp_token).strip()
    if not value:
        raise click.UsageError("give the API token with --token or SERVICEBAY_MCP_TOKEN")
    sessions = _sessions(settings)
    with transaction(sessions) as session:
        if identity.user_for_token(session, value=value) is None:
            raise click.ClickException("the token is invalid, expired or revoked")
    notifications.configure(sessions, email=mail.configured(settings), base_url=settings.base_url)
    mcp.build(sessions, settings, stdio_token=value).run("stdio")


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@pass_context
def db_upgrade(ctx: Context) -> None:
    """Apply every pending migration."""
    _upgrade(ctx.settings)
    click.echo("database is up to date")


@main.command()
@click.option(
    "--password", default=None, help="One password for every demo user (default: random)."
)
@pass_context
def demo(ctx: Context, password: str | None) -> None:
    """Load demo teams, users, offerings and requests (once)."""
    from servicebay.portal import demo as demo_data

    settings = ctx.settings
    _upgrade(settings)
    result = demo_data.load(_sessions(settings), settings, password=password)
    if result.created:
        click.echo("demo data loaded; sign in as one of these people:")
    else:
        click.echo("demo data is already loaded; nothing changed. The people to sign in as:")
    people = demo_data.personas()
    secrets = result.passwords or {p.username: "(unchanged)" for p in people}
    width = max(len(p.role) for p in people)
    click.echo(f"  {'user':<8} {'password':<14} {'role':<{width}}  try first")
    for person in people:
        click.echo(
            f"  {person.username:<8} {secrets[person.username]:<14} "
            f"{person.role:<{width}}  {person.try_first}"
        )
    click.echo("A new password for anyone: servicebay users set-password USERNAME")


@main.group()
def teams() -> None:
    """Teams."""


@teams.command("create")
@click.argument("slug")
@click.argument("name")
@pass_context
def teams_create(ctx: Context, slug: str, name: str) -> None:
    """Create team SLUG called NAME."""
    try:
        with transaction(_sessions(ctx.settings)) as session:
            identity.create_team(session, slug=slug, name=name)
    except IdentityError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"team {slug} created")


@teams.command("set-timezone")
@click.argument("slug")
@click.argument("zone", required=False, default="")
@pass_context
def teams_set_timezone(ctx: Context, slug: str, zone: str) -> None:
    """Count team SLUG's insights in the days of ZONE (e.g. Europe/Rome); without ZONE,
    in the organisation's (SERVICEBAY_REPORTING_TIMEZONE)."""
    try:
        with transaction(_sessions(ctx.settings)) as session:
            team = identity.set_reporting_timezone(session, slug=slug, zone=zone)
            chosen = team.reporting_timezone
    except IdentityError as error:
        raise click.ClickException(str(error)) from None
    if chosen:
        click.echo(f"team {slug} counts the days of {chosen}")
    else:
        click.echo(f"team {slug} counts the days of the organisation's time zone")


@main.group()
def users() -> None:
    """Users."""


@users.command("create")
@click.argument("username")
@click.option("--email", default="", help="Email address.")
@click.option("--name", "display_name", default="", help="Display name.")
@click.option("--team", "team_slugs", multiple=True, help="Team to join (repeatable).")
@click.option("--lead", is_flag=True, help="Join the teams as lead.")
@click.option("--admin", is_flag=True, help="Administrator.")
@click.option("--analyst", is_flag=True, help="Sees analytics of every team.")
@click.password_option(help="Password (asked for when not given).")
@pass_context
def users_create(
    ctx: Context,
    username: str,
    email: str,
    display_name: str,
    team_slugs: tuple[str, ...],
    lead: bool,
    admin: bool,
    analyst: bool,
    password: str,
) -> None:
    """Create a user who signs in with a password."""
    try:
        with transaction(_sessions(ctx.settings)) as session:
            user = identity.create_user(
                session,
                username=username,
                password=password,
                email=email,
                display_name=display_name,
                is_admin=admin,
                is_analyst=analyst,
            )
            for slug in team_slugs:
                team = identity.get_team(session, slug=slug)
                identity.add_member(
                    session, user=user, team=team, role=Role.LEAD if lead else Role.MEMBER
                )
    except IdentityError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"user {username} created")


@users.command("set-password")
@click.argument("username")
@click.password_option(help="The new password (asked for when not given).")
@pass_context
def users_set_password(ctx: Context, username: str, password: str) -> None:
    """Give USERNAME a new password (and end a lockout)."""
    try:
        with transaction(_sessions(ctx.settings)) as session:
            user = identity.get_user(session, username=username)
            identity.set_password(session, user=user, password=password)
    except IdentityError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"password of {username} set")


@main.group()
def tokens() -> None:
    """Personal API tokens."""


@tokens.command("create")
@click.argument("username")
@click.option("--name", default="cli", show_default=True, help="What the token is for.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(identity.SCOPES),
    help="Scope (repeatable; default read, request).",
)
@pass_context
def tokens_create(ctx: Context, username: str, name: str, scopes: tuple[str, ...]) -> None:
    """Create a token for USERNAME and print it once."""
    try:
        with transaction(_sessions(ctx.settings)) as session:
            user = identity.get_user(session, username=username)
            issued = identity.create_token(session, user=user, name=name, scopes=list(scopes))
            value = issued.value
    except IdentityError as error:
        raise click.ClickException(str(error)) from None
    click.echo(value)
    click.echo("Store it now: it is not shown again.", err=True)


@main.group()
def secrets() -> None:
    """Secrets stored in the database."""


@secrets.command("rotate")
@pass_context
def secrets_rotate(ctx: Context) -> None:
    """Re-encrypt stored secrets with the current secret key (after changing it)."""
    from servicebay.catalog import service as catalog_service
    from servicebay.core import chat

    with transaction(_sessions(ctx.settings)) as session:
        count = catalog_service.reencrypt_secrets(session) + chat.reencrypt(session)
    click.echo(f"{count} secret(s) re-encrypted with the current key")


@main.group()
def catalog() -> None:
    """Catalog-as-code: offerings as YAML files (see docs/catalog-as-code.md)."""


@catalog.command("apply")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Only print what would change.")
@click.option(
    "--secrets-from-environment",
    is_flag=True,
    help="Let webhook_secret_env name any variable of this command's environment "
    "(never SERVICEBAY_*), not only those in SERVICEBAY_CATALOG_SECRET_VARIABLES.",
)
@pass_context
def catalog_apply(ctx: Context, path: Path, dry_run: bool, secrets_from_environment: bool) -> None:
    """Bring the catalog to the files under PATH, all or nothing."""
    from servicebay.catalog import as_code
    from servicebay.catalog.errors import CatalogError

    if secrets_from_environment:
        secrets = as_code.SecretSource.whole_environment()
    else:
        secrets = as_code.SecretSource.allow_listed(ctx.settings.catalog_secret_variables)
    try:
        files = as_code.read_folder(path)
        with transaction(_sessions(ctx.settings)) as session:
            plan = as_code.apply(session, actor=None, files=files, dry_run=dry_run, secrets=secrets)
            if dry_run:
                session.rollback()
    except CatalogError as error:
        raise click.ClickException(f"nothing was changed:\n{error}") from None
    for entry in plan.entries:
        click.echo(str(entry))
    click.echo(("dry run: " if dry_run else "") + plan.summary())


@catalog.command("export")
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
@pass_context
def catalog_export(ctx: Context, path: Path) -> None:
    """Write every offering under PATH as <team>/<slug>.yaml."""
    from servicebay.catalog import as_code

    with transaction(_sessions(ctx.settings)) as session:
        files = as_code.export(session)
    as_code.write_folder(path, files)
    click.echo(f"{len(files)} offering(s) written to {path}")


@main.group()
def history() -> None:
    """Request history from a previous ticket tool."""


@history.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--case-column", required=True, help="Column naming the case (one request).")
@click.option("--activity-column", required=True, help="Column naming the activity.")
@click.option("--timestamp-column", required=True, help="Column with when it happened.")
@click.option(
    "--timezone",
    default="UTC",
    show_default=True,
    help="IANA time zone of timestamps written without an offset (e.g. Europe/Rome).",
)
@click.option("--offering", "offering_slug", required=True, help="Offering the requests were for.")
@click.option(
    "--drop-duplicates",
    is_flag=True,
    help="Read a row that repeats an earlier one exactly (case, activity, time) only once.",
)
@click.option("--dry-run", is_flag=True, help="Only read the file and say what it holds.")
@pass_context
def history_import(
    ctx: Context,
    file: Path,
    case_column: str,
    activity_column: str,
    timestamp_column: str,
    timezone: str,
    offering_slug: str,
    drop_duplicates: bool,
    dry_run: bool,
) -> None:
    """Import FILE, a CSV event log, as completed requests with their events."""
    from servicebay.requests import history as request_history

    try:
        cases = request_history.read_event_log(
            file,
            case_column=case_column,
            activity_column=activity_column,
            timestamp_column=timestamp_column,
            drop_duplicates=drop_duplicates,
            timezone=request_history.zone_named(timezone),
        )
    except request_history.HistoryImportError as error:
        raise click.ClickException(str(error)) from None
    found = request_history.summarise(cases)
    span = (
        f"{found.first_at:%Y-%m-%d %H:%M} to {found.last_at:%Y-%m-%d %H:%M} UTC"
        if found.first_at and found.last_at
        else "no events"
    )
    click.echo(f"{found.cases} cases, {found.events} events, {span}")
    if found.duplicates and drop_duplicates:
        click.echo(f"{found.duplicates} rows repeated an earlier row exactly: read once")
    elif found.duplicates:
        click.echo(
            f"{found.duplicates} rows repeat an earlier row exactly (case, activity, time) and "
            "are imported as they are; --drop-duplicates reads each once"
        )
    try:
        if dry_run:
            with transaction(_sessions(ctx.settings)) as session:
                would = request_history.preview(session, offering_slug=offering_slug, cases=cases)
            click.echo(
                f"dry run: {would.created} requests would be created, "
                f"{would.skipped} already imported; nothing imported"
            )
            return
        with (
            transaction(_sessions(ctx.settings)) as session,
            click.progressbar(length=found.cases, label="importing", file=sys.stderr) as bar,
        ):
            result = request_history.import_cases(
                session, offering_slug=offering_slug, cases=cases, progress=bar.update
            )
    except request_history.HistoryImportError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{result.created} requests created, {result.skipped} already imported")


@main.group("analytics")
def analytics_group() -> None:
    """Insights data."""


@analytics_group.command("rebuild")
@pass_context
def analytics_rebuild(ctx: Context) -> None:
    """Rebuild the daily roll-up from the whole Event log (after a very long import)."""
    from servicebay.analytics import rollup

    with transaction(_sessions(ctx.settings)) as session:
        rollup.rebuild(session)
        rollup.refresh(session)
    click.echo("analytics roll-up rebuilt")


if __name__ == "__main__":
    sys.exit(main())
