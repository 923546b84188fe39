"""Every route of the application by every kind of user → allowed or denied, as written here.

The table is read against the application's own route table: a route without an entry
fails the test, so nobody adds a page or an endpoint without saying who may use it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from servicebay.catalog import demand as demand_service
from servicebay.catalog.models import Offering
from servicebay.core import identity
from servicebay.core.identity import SCOPES, ApiToken, Role, Team, User
from servicebay.portal.deps import PAGES_TAKE_NO_TOKENS
from servicebay.portal.security import (
    CSRF_COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    CsrfTokens,
)
from servicebay.requests import approvals, tasks
from servicebay.requests import service as requests_service
from servicebay.requests.models import FulfilmentRun, Instance
from tests.factories import PASSWORD, make_offering, make_team, make_user, offering_definition

ROLES = ("anonymous", "consumer", "other", "member", "lead", "analyst", "admin")
SIGNED_IN = frozenset(ROLES) - {"anonymous"}
OWNER_TEAM = frozenset({"member", "lead", "admin"})

# Who is allowed, by rule. Everyone else is denied.
RULES: dict[str, frozenset[str]] = {
    "public": frozenset(ROLES),
    "signed-in": SIGNED_IN,
    "owner-member": OWNER_TEAM,
    "owner-lead": frozenset({"lead", "admin"}),
    "owner-reader": OWNER_TEAM | {"analyst"},  # the owner team, and analysts who read all
    "approver": frozenset({"lead", "admin"}),  # the step is decided by the owner team's leads
    "request-viewer": OWNER_TEAM | {"consumer"},  # the requester, the owner team, approvers
    "request-reader": OWNER_TEAM | {"consumer", "analyst"},  # and analysts, who only read
    "requester": frozenset({"consumer"}),
    "requester-or-owner-team": OWNER_TEAM | {"consumer"},
    "token-owner": frozenset({"consumer"}),
    # An instance: read by its owner, its team, the owner team of its offering and analysts;
    # an operation run by whom the operation allows (here the default: owner, team leads, ops).
    "instance-reader": OWNER_TEAM | {"consumer", "analyst"},
    "instance-operator": OWNER_TEAM | {"consumer"},
    "admin": frozenset({"admin"}),
    "run-token": frozenset(),  # only the run's own callback token, which no user holds
    # Only with an identity provider set up (this app has none: 404), and its callback only
    # with the state of a sign-in begun in the same browser (tests/portal/test_oidc_sign_in.py).
    "provider-sign-in": frozenset(),
}

EXPECTED: dict[str, str] = {
    "healthz": "public",
    "readyz": "public",
    "metrics": "public",
    "api_docs": "public",  # the API reference page; it shows what /openapi.json says
    # offerings (API)
    "list_offerings": "signed-in",
    "create_offering": "owner-member",
    "get_offering": "signed-in",
    "update_offering": "owner-member",
    "publish_offering": "owner-lead",
    "deprecate_offering": "owner-lead",
    "retire_offering": "owner-lead",
    "offering_readiness": "owner-member",
    "test_fulfilment": "owner-member",
    "offering_versions": "owner-member",
    "offering_version_definition": "owner-member",
    "offering_diff": "owner-member",
    "offering_schema": "signed-in",
    "list_field_options": "signed-in",
    "apply_catalog": "owner-member",
    # requests (API)
    "submit_request": "signed-in",
    "list_my_requests": "signed-in",
    "get_request": "request-reader",
    "request_events": "request-reader",
    "request_runs": "request-reader",
    "request_approvals": "request-reader",
    "cancel_request": "requester-or-owner-team",
    "retry_request": "owner-member",
    "list_comments": "request-reader",
    "add_comment": "request-viewer",
    "rate_request": "requester",
    "my_notifications": "signed-in",
    "set_wip_limits": "owner-member",
    "advance_task": "owner-member",
    "approval_inbox": "signed-in",
    "decide": "approver",
    "run_callback": "run-token",
    # instances (API)
    "list_instances": "signed-in",
    "get_instance": "instance-reader",
    "run_operation": "instance-operator",
    "extend_instance": "instance-operator",
    # analytics (API): everyone signed in, each seeing the offerings they may count
    "form_started": "signed-in",
    "requests_behind": "signed-in",
    "forecast": "signed-in",
    "table": "signed-in",
    "summary_of": "signed-in",
    "health_of": "signed-in",
    # an offering's versions compared: for those who read its insights (owner team, analysts)
    "versions_of": "owner-reader",
    # account, audit, demand (API)
    "me": "signed-in",
    "my_tokens": "signed-in",
    "create_token": "signed-in",
    "revoke_token": "token-owner",
    "audit_events": "admin",
    "list_demands": "signed-in",
    "create_demand": "signed-in",
    "get_demand": "signed-in",
    "similar_demands": "signed-in",
    "vote": "signed-in",
    "withdraw_vote": "signed-in",
    "triage": "owner-lead",
    # chat destinations (API): one's own; a team's, read by its members, set by its leads
    "my_chat": "signed-in",
    "set_my_chat": "signed-in",
    "remove_my_chat": "signed-in",
    "team_chat": "owner-member",
    "set_team_chat": "owner-lead",
    "remove_team_chat": "owner-lead",
    # pages
    "login": "public",
    "login_submit": "public",
    "logout": "public",
    "login_oidc": "provider-sign-in",
    "login_oidc_callback": "provider-sign-in",
    "home": "signed-in",
    "offering_page": "signed-in",
    "field_options": "signed-in",
    "offering_request": "signed-in",
    "my_requests": "signed-in",
    "request_page": "request-reader",
    "my_instances": "signed-in",
    "team_instances": "signed-in",
    "instance_page": "instance-reader",
    "instance_operate": "instance-operator",
    "instance_extend": "instance-operator",
    "insights": "signed-in",
    "insights_requests": "signed-in",
    "insights_section": "signed-in",
    # a team's retrospective digest: read by the team and analysts, its cadence set by leads
    "insights_digest": "owner-reader",
    "insights_digest_demand": "owner-reader",
    "insights_digest_cadence": "owner-lead",
    "account": "signed-in",
    "account_token_create": "signed-in",
    # revoking someone else's token changes nothing and reveals nothing: same answer
    "account_token_revoke": "signed-in",
    "ops_offerings": "signed-in",
    "ops_offering_new": "signed-in",
    "ops_offering_create": "owner-member",
    "ops_offering_edit": "owner-member",
    "ops_offering_save": "owner-member",
    "ops_offering_preview": "owner-member",
    "ops_offering_test": "owner-member",
    "ops_offering_publish": "owner-lead",
    "ops_offering_deprecate": "owner-lead",
    "ops_offering_retire": "owner-lead",
    "ops_offering_diff": "owner-member",
    "admin_audit": "admin",
    "admin_people": "admin",
    # team board and tasks (API)
    "get_team_board": "owner-member",
    "assign_task": "owner-member",
    "tick_checklist_item": "owner-member",
    # requests, approvals, demand, notifications (pages)
    "request_cancel": "requester-or-owner-team",
    "request_comment": "request-viewer",
    "request_rate": "requester",
    # a refused form's address, opened again: back to the request page (which checks)
    "request_rating_form": "signed-in",
    "request_comment_form": "signed-in",
    "approvals": "signed-in",
    "approval_decide": "approver",
    "demands": "signed-in",
    "demand_create": "signed-in",
    "demand_page": "signed-in",
    "demand_vote": "signed-in",
    "demand_withdraw_vote": "signed-in",
    "notifications": "signed-in",
    "notifications_read": "signed-in",
    "account_preferences": "signed-in",
    "account_chat": "signed-in",
    "account_chat_remove": "signed-in",
    # ops workspace (pages): each person works on their own team's board
    "ops_board": "signed-in",
    # someone in no team has no board: the form changes nothing and goes back to /ops
    "ops_wip_limits": "signed-in",
    "ops_task_advance": "owner-member",
    "ops_request_retry": "owner-member",
    "ops_demand": "signed-in",
    "ops_demand_accept": "owner-lead",
    "ops_demand_decline": "owner-lead",
    "ops_demand_merge": "owner-lead",
    "ops_chat": "owner-lead",
    "ops_chat_remove": "owner-lead",
}
CHAT = {"format": "slack", "url": "http://127.0.0.1:9/services/T0/B0/x"}

INPUTS = {"name": "ledger", "size": "small"}
SIZE = {"name": "size", "label": "Size", "type": "select", "options": ["small", "large"]}
APPROVAL_POLICY = {"steps": [{"name": "Owner check", "decider": "owner_leads"}]}
MANUAL = {"kind": "manual", "checklist": ["Create the account"]}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
OWNERS = SimpleNamespace(slug="owners")


def application_routes(app: FastAPI) -> list[APIRoute]:
    return [route for route in app.routes if isinstance(route, APIRoute)]


@dataclass
class World:
    """One owner team (a lead and a member) with offerings, and everyone around it."""

    slug: str
    team_slug: str
    request_id: int
    approval_id: int
    task_id: int
    run_id: int
    token_id: int
    demand_id: int
    duplicate_demand_id: int
    instance_id: int
    bearer: dict[str, str] = field(default_factory=dict)
    session_key: dict[str, str] = field(default_factory=dict)

    def params(self) -> dict[str, str]:
        return {
            "slug": self.slug,
            "field_name": "size",
            "team_slug": self.team_slug,
            "request_id": str(self.request_id),
            "approval_id": str(self.approval_id),
            "task_id": str(self.task_id),
            "run_id": str(self.run_id),
            "token_id": str(self.token_id),
            "demand_id": str(self.demand_id),
            "instance_id": str(self.instance_id),
            "operation": "resize",
            "number": "1",
            "name": "adoption",
            "section": "flow",
            "index": "0",
        }


def build_world(db: Session) -> World:
    owners = make_team(db, "owners")
    lead = make_user(db, "lead", team=owners, role=Role.LEAD)
    make_user(db, "member", team=owners)
    make_user(db, "other", team=make_team(db, "others"))
    consumer = make_user(db, "consumer", team=make_team(db, "consumers"))
    make_user(db, "analyst", analyst=True)
    make_user(db, "admin", admin=True)
    offering = make_offering(db, owners, lead, slug="database", approval_policy=APPROVAL_POLICY)
    manual = make_offering(db, owners, lead, slug="accounts", fulfilment=MANUAL)
    asked = requests_service.submit(db, actor=consumer, offering_slug="database", inputs=INPUTS)
    handmade = requests_service.submit(db, actor=consumer, offering_slug="accounts", inputs=INPUTS)
    db.flush()
    (approval,) = approvals.steps_of(db, request_id=asked.id)
    (task,) = tasks.board(db, team_id=owners.id)["todo"]
    assert task.request_id == handmade.id
    instance = _instance_of(db, owners, lead, consumer)
    run = db.scalar(select(FulfilmentRun).order_by(FulfilmentRun.id))
    spare = identity.create_token(db, user=consumer, name="spare", scopes=["read"])
    demand = demand_service.create(
        db, actor=consumer, title="A queue", description="", urgency="normal", team_slug="owners"
    )
    duplicate = demand_service.create(
        db,
        actor=consumer,
        title="A queue, please",
        description="",
        urgency="normal",
        team_slug="owners",
    )
    world = World(
        slug=offering.slug,
        team_slug=owners.slug,
        request_id=asked.id,
        approval_id=approval.id,
        task_id=task.id,
        run_id=run.id if run else 1,
        token_id=spare.token.id,
        demand_id=demand.id,
        duplicate_demand_id=duplicate.id,
        instance_id=instance.id,
    )
    assert manual.slug == "accounts"
    for role in SIGNED_IN:
        user = identity.get_user(db, username=role)
        scopes = ["read", "request", "ops"] + (["admin"] if user.is_admin else [])
        issued = identity.create_token(db, user=user, name="matrix", scopes=scopes)
        world.bearer[role] = issued.value
        world.session_key[role] = identity.start_session(db, user=user)
    db.commit()
    return world


CLUSTERS: dict[str, Any] = {
    "slug": "clusters",
    "fulfilment": MANUAL,
    "instances": {
        "name_field": "name",
        "operations": [{"name": "resize", "form": {"fields": [SIZE]}, "fulfilment": MANUAL}],
    },
}


def _instance_of(db: Session, owners: Team, lead: User, consumer: User) -> Instance:
    """The consumer's active instance of a manual offering with a resize operation."""
    make_offering(db, owners, lead, **CLUSTERS)
    made = requests_service.submit(db, actor=consumer, offering_slug="clusters", inputs=INPUTS)
    db.flush()
    (task,) = [t for t in tasks.board(db, team_id=owners.id)["todo"] if t.request_id == made.id]
    tasks.advance(db, actor=lead, task_id=task.id)
    tasks.advance(db, actor=lead, task_id=task.id)
    instance = db.get_one(Instance, made.instance_id)
    assert instance.state == "active"
    return instance


def catalog_files(definition: dict[str, Any]) -> dict[str, str]:
    accounts = offering_definition(OWNERS, slug="accounts", fulfilment=MANUAL)
    clusters = json.loads(json.dumps(offering_definition(OWNERS, **CLUSTERS)))  # no aliases
    return {
        "database.yaml": yaml.safe_dump(definition),
        "accounts.yaml": yaml.safe_dump(accounts),
        "clusters.yaml": yaml.safe_dump(clusters),
    }


def json_bodies(world: World) -> dict[str, Any]:
    definition = offering_definition(OWNERS, slug="database")
    fresh = offering_definition(OWNERS, slug="new-offering")
    return {
        "create_offering": fresh,
        "update_offering": definition,
        "apply_catalog": {"files": catalog_files(definition), "dry_run": True},
        "submit_request": {"offering": world.slug, "inputs": INPUTS},
        "cancel_request": {"reason": "no longer needed"},
        "add_comment": {"body": "Any news?"},
        "rate_request": {"score": 5},
        "set_wip_limits": {"todo": 5},
        "advance_task": {},
        "decide": {"decision": "approve"},
        "run_callback": {"status": "succeeded"},
        "form_started": {"offering": world.slug},
        "create_token": {"name": "ci", "scopes": ["read"]},
        "create_demand": {"title": "A message queue"},
        "triage": {"state": "accepted"},
        "assign_task": {"assignee": "member"},
        "tick_checklist_item": {"done": True},
        "set_my_chat": CHAT,
        "set_team_chat": CHAT,
        "run_operation": {"inputs": {"size": "large"}},
    }


FORMS: dict[str, dict[str, str]] = {
    "login_submit": {"username": "consumer", "password": PASSWORD},
    "offering_request": INPUTS,
    "instance_operate": {"size": "large"},
    "account_token_create": {"name": "laptop"},
    "ops_offering_create": {
        "slug": "fresh-offering",
        "name": "Fresh",
        "summary": "Something new",
        "owner_team": "owners",
        "contact": "#help",
        "fulfilment_kind": "manual",
    },
    "ops_offering_save": {"name": "Database", "summary": "A PostgreSQL database"},
    "ops_offering_preview": {"name": "Database"},
    "approval_decide": {"decision": "approve"},
    "request_comment": {"body": "Any news?"},
    "request_rate": {"score": "5"},
    "demand_create": {"title": "A message queue", "urgency": "normal"},
    "ops_wip_limits": {"team": "owners", "todo": "5"},
    "ops_demand_decline": {"reason": "Not this year"},
    "ops_demand_accept": {"team": "owners"},
    "account_preferences": {"email": "on"},
    "insights_digest_demand": {"team": "owners", "title": "A finding of the digest"},
    "insights_digest_cadence": {"team": "owners", "cadence_days": "14"},
    "account_chat": CHAT,
    "ops_chat": {**CHAT, "team": "owners"},
    "ops_chat_remove": {"team": "owners"},
}

QUERIES: dict[str, dict[str, str]] = {
    "similar_demands": {"title": "A queue"},
    "offering_diff": {"older": "1", "newer": "1"},
    "ops_offering_diff": {"older": "1", "newer": "1"},
    "requests_behind": {"metric": "submitted"},
    "insights_digest": {"team": "owners"},
    "versions_of": {"offering": "database"},
}


def path_of(route: APIRoute, world: World) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: world.params()[m.group(1)], route.path)


def csrf_tokens(client: TestClient) -> CsrfTokens:
    return CsrfTokens(client.app.state.settings.resolved_secret_key())  # type: ignore[attr-defined]


def call(client: TestClient, world: World, route: APIRoute, role: str) -> Response:
    """The route as ``role`` calls it: the API with the role's bearer token, pages with its
    sign-in cookie and that session's CSRF token."""
    method = sorted(route.methods)[0]
    path = path_of(route, world)
    headers: dict[str, str] = {}
    api = route.path.startswith("/api/")
    csrf = csrf_tokens(client).new_pre_session()
    cookies = {CSRF_COOKIE: csrf}
    if role != "anonymous":
        if api:
            headers["Authorization"] = f"Bearer {world.bearer[role]}"
        else:
            cookies[SESSION_COOKIE] = world.session_key[role]
            csrf = csrf_tokens(client).for_session(world.session_key[role])
    client.cookies.clear()
    for name, value in cookies.items():
        client.cookies.set(name, value)
    params = QUERIES.get(route.name)
    if method not in UNSAFE:
        return client.request(method, path, params=params, headers=headers)
    headers[CSRF_HEADER] = csrf
    if api:
        return client.request(
            method, path, params=params, headers=headers, json=json_bodies(world).get(route.name)
        )
    form = dict(FORMS.get(route.name, {}))
    if route.name == "ops_demand_merge":
        form["into"] = str(world.duplicate_demand_id)
    return client.request(method, path, params=params, headers=headers, data=form)


def denied(answer: Response) -> bool:
    if answer.status_code in (401, 403, 404):
        return True
    location = answer.headers.get("location", "")
    return answer.status_code == 303 and location.startswith("/login?next=")


def test_every_route_of_the_application_has_an_entry_in_the_authorization_table(
    app: FastAPI,
) -> None:
    names = {route.name for route in application_routes(app)}
    missing = sorted(names - EXPECTED.keys())
    assert not missing, (
        f"routes without an authorization rule: {missing}; add each to EXPECTED in "
        "tests/security/test_authorization_matrix.py with the rule saying who may use it"
    )
    assert sorted(EXPECTED.keys() - names) == [], "EXPECTED names routes that no longer exist"
    assert set(EXPECTED.values()) <= RULES.keys()


@pytest.fixture
def world(db: Session, monkeypatch: pytest.MonkeyPatch) -> World:
    # Seven users per test: cheap password hashing keeps the matrix quick.
    monkeypatch.setattr(identity, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024))
    return build_world(db)


@pytest.fixture
def matrix_client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as client:
        yield client


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_kind_of_user_is_allowed_or_denied_each_route_as_the_table_says(
    name: str, app: FastAPI, world: World, matrix_client: TestClient
) -> None:
    (route,) = [r for r in application_routes(app) if r.name == name]
    allowed = RULES[EXPECTED[name]]
    wrong = []
    for role in ROLES:
        answer = call(matrix_client, world, route, role)
        assert answer.status_code < 500, (role, answer.status_code, answer.text[:300])
        if denied(answer) == (role in allowed):
            wrong.append(f"{role}: {answer.status_code} {answer.text[:120]!r}")
    assert not wrong, f"{name} ({EXPECTED[name]}):\n" + "\n".join(wrong)


def test_someone_elses_request_answers_not_found_never_forbidden(
    world: World, matrix_client: TestClient
) -> None:
    other = {"Authorization": f"Bearer {world.bearer['other']}"}
    path = f"/api/v1/requests/{world.request_id}"
    for suffix in ("", "/events", "/runs", "/approvals", "/comments"):
        assert matrix_client.get(path + suffix, headers=other).status_code == 404
    for suffix, body in (("/cancel", {}), ("/comments", {"body": "hi"})):
        assert matrix_client.post(path + suffix, headers=other, json=body).status_code == 404
    assert matrix_client.put(path + "/rating", headers=other, json={"score": 1}).status_code == 404
    matrix_client.cookies.set(SESSION_COOKIE, world.session_key["other"])
    assert matrix_client.get(f"/requests/{world.request_id}").status_code == 404


# --- pages by token scope by role: pages take the sign-in, never a bearer token -------


def page_routes(app: FastAPI) -> list[APIRoute]:
    return [
        route
        for route in application_routes(app)
        if not route.path.startswith("/api/") and route.name not in ("healthz", "readyz", "metrics")
    ]


def scoped_tokens(db: Session, scope: str) -> dict[str, str]:
    """A token with exactly ``scope`` for every signed-in role that may hold it."""
    tokens = {}
    for role in sorted(SIGNED_IN):
        user = identity.get_user(db, username=role)
        if scope == "admin" and not user.is_admin:
            continue
        tokens[role] = identity.create_token(db, user=user, name=scope, scopes=[scope]).value
    db.commit()
    return tokens


def call_page_with_token(
    client: TestClient, world: World, route: APIRoute, token: str, csrf: str = "abc"
) -> Response:
    """As the report's client did: the bearer token plus a CSRF cookie and field it chose."""
    method = sorted(route.methods)[0]
    client.cookies.clear()
    client.cookies.set(CSRF_COOKIE, csrf)
    headers = {"Authorization": f"Bearer {token}"}
    params = QUERIES.get(route.name)
    if method not in UNSAFE:
        return client.request(method, path_of(route, world), params=params, headers=headers)
    form = {**FORMS.get(route.name, {}), CSRF_FIELD: csrf}
    return client.request(method, path_of(route, world), params=params, headers=headers, data=form)


@pytest.mark.parametrize("scope", SCOPES)
def test_every_page_refuses_a_bearer_token_of_each_scope_from_every_role(
    scope: str, app: FastAPI, world: World, db: Session, matrix_client: TestClient
) -> None:
    tokens = scoped_tokens(db, scope)
    routes = page_routes(app)
    assert len(routes) >= 40
    sentence = PAGES_TAKE_NO_TOKENS[0].upper() + PAGES_TAKE_NO_TOKENS[1:]
    accepted = []
    for role, token in tokens.items():
        for route in routes:
            answer = call_page_with_token(matrix_client, world, route, token)
            if answer.status_code != 401 or sentence not in answer.text:
                accepted.append(f"{route.name} as {role}: {answer.status_code}")
    assert not accepted, f"pages that took a {scope!r} token:\n" + "\n".join(accepted)


def test_the_reported_requests_with_tokens_on_pages_are_all_refused(
    world: World, db: Session, matrix_client: TestClient
) -> None:
    consumer_read = scoped_tokens(db, "read")["consumer"]
    admin_read = scoped_tokens(db, "read")["admin"]
    consumer_request = scoped_tokens(db, "request")["consumer"]
    tokens_before = db.scalar(select(func.count(ApiToken.id)))
    db.rollback()  # end the read: on SQLite it would hold the write lock
    client = matrix_client

    def post(path: str, token: str, form: dict[str, Any]) -> Response:
        client.cookies.clear()
        client.cookies.set(CSRF_COOKIE, "abc")
        return client.post(
            path, headers={"Authorization": f"Bearer {token}"}, data={**form, CSRF_FIELD: "abc"}
        )

    # A read token creating a wider token through the account page.
    wider = {"name": "wider", "scopes": ["read", "request", "ops"]}
    assert post("/account/tokens", consumer_read, wider).status_code == 401
    # An admin's read token minting an admin token and retiring an offering.
    assert (
        post("/account/tokens", admin_read, {"name": "root", "scopes": ["admin"]}).status_code
        == 401
    )
    retire = post(f"/ops/offerings/{world.slug}/retire", admin_read, {})
    assert retire.status_code == 401
    # A request-only token reading a request and the account, which the API refuses.
    client.cookies.clear()
    bearer = {"Authorization": f"Bearer {consumer_request}"}
    assert client.get(f"/requests/{world.request_id}", headers=bearer).status_code == 401
    assert client.get("/account", headers=bearer).status_code == 401
    assert client.get(f"/api/v1/requests/{world.request_id}", headers=bearer).status_code == 403
    # Carrying the sign-in cookie as well changes nothing: pages never take a token.
    client.cookies.set(SESSION_COOKIE, world.session_key["consumer"])
    assert client.get("/account", headers=bearer).status_code == 401

    db.expire_all()
    assert db.scalar(select(func.count(ApiToken.id))) == tokens_before
    offering = db.scalar(select(Offering).where(Offering.slug == world.slug))
    assert offering is not None and offering.status == "published"
