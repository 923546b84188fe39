"""Live form options: a select field whose options come from an HTTP source, shown as the
form is filled in and checked again on submit, on the page, the API and the agent tools."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from servicebay.catalog import as_code, forms, live_options
from servicebay.catalog.errors import InputsInvalid
from servicebay.catalog.schemas import FieldType, OfferingIn, OptionsSource, RequestForm
from servicebay.core import clock, identity
from servicebay.core.identity import Role, Team, User
from servicebay.core.outbound import OutboundPolicy
from servicebay.core.settings import Settings
from servicebay.portal.mcp.runner import ToolRunner
from servicebay.portal.mcp.tools import agent_tools
from servicebay.requests import service as requests_service
from tests.factories import make_offering, make_team, make_user, sign_in, token_for
from tests.options_source import Asked, clusters
from tests.options_source import OptionsSource as Source

LOCAL = OutboundPolicy.from_lists(["127.0.0.0/8"], [])


def live_form(base: str, **source: Any) -> dict[str, Any]:
    return {
        "fields": [
            {
                "name": "environment",
                "label": "Environment",
                "type": "select",
                "options": ["production", "staging"],
                "required": True,
            },
            {
                "name": "cluster",
                "label": "Cluster",
                "type": "select",
                "required": True,
                "options_from": {
                    "url": base + "/clusters{?environment,team}",
                    "items": "$.clusters[*]",
                    "value": "id",
                    "label": "name",
                    **source,
                },
            },
        ]
    }


@pytest.fixture
def source() -> Iterator[Source]:
    with Source(answer=clusters) as running:
        yield running


@pytest.fixture
def live() -> live_options.LiveOptions:
    return live_options.LiveOptions(LOCAL)


def arrange(db: Session, base: str, **source: Any) -> tuple[Team, User]:
    owners = make_team(db, "owners")
    lead = make_user(db, team=owners, role=Role.LEAD)
    make_offering(db, owners, lead, slug="namespace", form=live_form(base, **source))
    consumers = make_team(db, "payments")
    requester = make_user(db, "requester", team=consumers)
    db.commit()
    return consumers, requester


# --- the definition ----------------------------------------------------------------


def test_an_options_url_may_name_only_fields_above_it_and_the_team() -> None:
    form = live_form("https://cmdb.example.com")
    form["fields"][1]["options_from"]["url"] = "https://cmdb.example.com/c{?region}"
    with pytest.raises(ValidationError, match=r"names \{region\}, which is neither a field"):
        RequestForm.model_validate(form)


def test_a_field_has_either_its_own_options_or_a_live_source() -> None:
    form = live_form("https://cmdb.example.com")
    form["fields"][1]["options"] = ["a"]
    with pytest.raises(ValidationError, match="both options and options_from"):
        RequestForm.model_validate(form)


def test_a_json_path_that_does_not_parse_is_refused() -> None:
    with pytest.raises(ValidationError, match="is not a JSONPath expression"):
        OptionsSource(url="https://cmdb.example.com/c", items="$.clusters[[")


def test_a_live_source_is_written_in_catalog_as_code_yaml() -> None:
    text = """\
slug: namespace
name: Namespace
owner_team: platform
summary: A namespace on a cluster
form:
  fields:
    - {name: environment, label: Environment, type: select, options: [production, staging]}
    - name: cluster
      label: Cluster
      type: select
      options_from:
        url: https://cmdb.example.com/clusters{?environment,team}
        items: $.clusters[*]
        value: id
        label: name
        cache_seconds: 300
fulfilment: {kind: manual}
"""
    (parsed,) = as_code.parse_files({"namespace.yaml": text})
    source = parsed.definition.form.fields[1].options_from
    assert source is not None
    assert source.parameters == ["environment", "team"]
    assert source.cache_seconds == 300


def test_an_unknown_key_in_a_live_source_is_named_with_its_line() -> None:
    text = """\
slug: namespace
name: Namespace
owner_team: platform
summary: A namespace
form:
  fields:
    - name: cluster
      label: Cluster
      type: select
      options_from:
        url: https://cmdb.example.com/clusters
        cache: 300
fulfilment: {kind: manual}
"""
    with pytest.raises(as_code.CatalogFilesInvalid) as refused:
        as_code.parse_files({"namespace.yaml": text})
    assert "namespace.yaml:12" in str(refused.value.problems)


# --- submitting ----------------------------------------------------------------------


def test_a_request_takes_a_value_the_source_offers_for_its_answers_and_team(
    db: Session, source: Source, live: live_options.LiveOptions
) -> None:
    _, requester = arrange(db, source.base)
    request = requests_service.submit(
        db,
        actor=requester,
        offering_slug="namespace",
        inputs={"environment": "production", "cluster": "prod-us-payments"},
        live=live,
    )
    assert request.inputs["cluster"] == "prod-us-payments"
    assert source.asked[-1].query == {"environment": ["production"], "team": ["payments"]}


def test_a_value_the_source_does_not_offer_is_refused(
    db: Session, source: Source, live: live_options.LiveOptions
) -> None:
    _, requester = arrange(db, source.base)
    with pytest.raises(InputsInvalid) as refused:
        requests_service.submit(
            db,
            actor=requester,
            offering_slug="namespace",
            inputs={"environment": "staging", "cluster": "prod-us-payments"},
            live=live,
        )
    assert refused.value.problems == {"cluster": "must be one of the options"}


def test_a_source_that_is_down_refuses_the_request_and_says_why(
    db: Session, source: Source, live: live_options.LiveOptions
) -> None:
    _, requester = arrange(db, source.base)
    source.answer = lambda asked: (503, {"detail": "maintenance"})
    with pytest.raises(InputsInvalid) as refused:
        requests_service.submit(
            db,
            actor=requester,
            offering_slug="namespace",
            inputs={"environment": "production", "cluster": "prod-us-payments"},
            live=live,
        )
    problem = refused.value.problems["cluster"]
    assert problem.startswith("cannot be checked now: the options source at 127.0.0.1 answered 503")


def test_an_answer_stands_for_the_cache_time_and_is_never_used_once_stale(
    db: Session, source: Source, live: live_options.LiveOptions
) -> None:
    _, requester = arrange(db, source.base, cache_seconds=60)
    inputs = {"environment": "production", "cluster": "prod-eu-payments"}

    def check() -> dict[str, Any]:
        return requests_service.check_inputs(
            db, actor=requester, offering_slug="namespace", inputs=inputs, live=live
        )

    check()
    check()
    assert len(source.asked) == 1  # the second check used the kept answer
    clock.advance(timedelta(seconds=61))
    source.stop()
    with pytest.raises(InputsInvalid, match="cannot be checked now"):
        check()


def test_a_source_the_outbound_policy_forbids_is_never_called(db: Session, source: Source) -> None:
    _, requester = arrange(db, source.base)
    strict = live_options.LiveOptions(OutboundPolicy())
    with pytest.raises(InputsInvalid) as refused:
        requests_service.submit(
            db,
            actor=requester,
            offering_slug="namespace",
            inputs={"environment": "production", "cluster": "prod-eu-payments"},
            live=strict,
        )
    assert "private or internal address" in refused.value.problems["cluster"]
    assert source.asked == []


def test_an_answer_without_values_at_the_path_is_a_problem_not_an_empty_list(
    db: Session, source: Source, live: live_options.LiveOptions
) -> None:
    _, requester = arrange(db, source.base)
    source.answer = lambda asked: (200, {"clusters": [{"title": "no id here"}]})
    found = requests_service.field_options(
        db,
        viewer=requester,
        offering_slug="namespace",
        field_name="cluster",
        inputs={"environment": "production"},
        live=live,
    )
    assert found.problem == "the answer has 1 items but none has a value at 'id'"


# --- the page, the API and the agent tools ---------------------------------------------


@pytest.fixture
def page_source(app: Any) -> Iterator[Source]:
    live_options.for_policy.cache_clear()  # every test starts with no kept answers
    with Source(answer=clusters) as running:
        yield running


def test_the_options_fragment_lists_the_sources_options_for_the_answers_given(
    client: TestClient, db: Session, page_source: Source
) -> None:
    arrange(db, page_source.base)
    sign_in(client, "requester")
    before = client.get("/offerings/namespace")
    assert "Choose Environment first to see the options." in before.text
    fragment = client.get(
        "/offerings/namespace/fields/cluster/options",
        params={"environment": "production", "cluster": ""},
        headers={"HX-Request": "true"},
    )
    assert fragment.status_code == 200
    assert '<option value="prod-eu-payments" >prod-eu (payments)</option>' in fragment.text
    assert 'hx-trigger="change from:#field-environment' in fragment.text


def test_the_form_says_when_the_source_is_down_and_refuses_the_submission(
    client: TestClient, db: Session, page_source: Source
) -> None:
    arrange(db, page_source.base)
    csrf = sign_in(client, "requester")
    page_source.answer = lambda asked: (500, {})
    fragment = client.get(
        "/offerings/namespace/fields/cluster/options", params={"environment": "production"}
    )
    assert "The options cannot be loaded now" in fragment.text
    answer = client.post(
        "/offerings/namespace/request",
        data={"environment": "production", "cluster": "prod-eu-payments", "csrf_token": csrf},
    )
    assert answer.status_code == 422
    assert "Cluster cannot be checked now" in answer.text


def test_the_api_lists_a_fields_options_and_what_it_waits_for(
    client: TestClient, db: Session, page_source: Source
) -> None:
    _, requester = arrange(db, page_source.base)
    headers = token_for(db, requester)
    db.commit()
    url = "/api/v1/offerings/namespace/fields/cluster/options"
    waiting = client.get(url, headers=headers).json()
    assert waiting == {
        "field": "cluster",
        "ready": False,
        "options": [],
        "waiting_for": ["Environment"],
        "problem": None,
    }
    listed = client.get(url, params={"environment": "staging"}, headers=headers).json()
    assert listed["options"] == [{"value": "stage-1-payments", "label": "stage-1 (payments)"}]
    unknown = client.get("/api/v1/offerings/namespace/fields/nope/options", headers=headers)
    assert unknown.status_code == 404
    submitted = client.post(
        "/api/v1/requests",
        json={"offering": "namespace", "inputs": {"environment": "staging", "cluster": "x"}},
        headers=headers,
    )
    assert submitted.status_code == 422
    assert "cluster" in str(submitted.json()["detail"])


def test_the_form_schema_points_to_the_options_endpoint_instead_of_a_list(
    client: TestClient, db: Session, page_source: Source
) -> None:
    _, requester = arrange(db, page_source.base)
    headers = token_for(db, requester)
    db.commit()
    schema = client.get("/api/v1/offerings/namespace/schema", headers=headers).json()
    cluster = schema["properties"]["cluster"]
    assert "enum" not in cluster
    assert cluster["x-options-from"] == {"depends_on": ["environment", "team"]}


def test_sources_are_asked_with_each_answer_encoded(source: Source) -> None:
    live = live_options.LiveOptions(LOCAL)
    form = RequestForm.model_validate(live_form(source.base))
    found = live.for_field(
        form.fields[1],
        answers={"environment": "a b&c=d"},
        labels={"environment": "Environment"},
        team="payments",
    )
    assert found.ready
    assert source.asked[-1] == Asked(
        "/clusters", {"environment": ["a b&c=d"], "team": ["payments"]}
    )


def test_definition_round_trip_keeps_the_source() -> None:
    definition = OfferingIn.model_validate(
        {
            "slug": "namespace",
            "name": "Namespace",
            "owner_team": "platform",
            "summary": "x",
            "form": live_form("https://cmdb.example.com"),
            "fulfilment": {"kind": "manual"},
        }
    )
    dumped = definition.model_dump(mode="json", exclude_defaults=True)
    assert dumped["form"]["fields"][1]["options_from"]["url"].endswith("{?environment,team}")


def test_items_may_name_the_list_itself_and_values_the_element() -> None:
    source = OptionsSource(url="https://cmdb.example.com/c", items="$.names", value="$")
    found = live_options.read_options({"names": ["eu", "us", "eu", 7]}, source)
    assert [option.value for option in found] == ["eu", "us", "7"]


def test_an_agent_lists_live_options_and_validation_checks_against_them(
    db: Session, settings: Settings, sessions: sessionmaker[Session], source: Source
) -> None:
    live_options.for_policy.cache_clear()
    _, requester = arrange(db, source.base)
    issued = identity.create_token(db, user=requester, name="agent", scopes=["read"])
    db.commit()
    tools = {
        tool.name: tool.fn
        for tool in agent_tools(ToolRunner(sessions, settings, token=issued.value))
    }

    listed = tools["list_field_options"](
        offering="namespace", field="cluster", inputs={"environment": "staging"}
    ).structured_content
    assert listed["options"] == [{"value": "stage-1-payments", "label": "stage-1 (payments)"}]
    bad = tools["validate_request"](
        offering="namespace", inputs={"environment": "staging", "cluster": "prod-eu-payments"}
    ).structured_content
    assert bad["problems"] == [{"field": "cluster", "message": "must be one of the options"}]
    good = tools["validate_request"](
        offering="namespace", inputs={"environment": "staging", "cluster": "stage-1-payments"}
    ).structured_content
    assert good["valid"] is True


def test_a_multiselect_takes_only_values_its_source_offers(source: Source) -> None:
    live = live_options.LiveOptions(LOCAL)
    form = RequestForm.model_validate(live_form(source.base))
    form.fields[1].type = FieldType.MULTISELECT
    inputs = {"environment": "production", "cluster": ["prod-eu-payments", "stage-1-payments"]}
    with pytest.raises(InputsInvalid) as refused:
        forms.validate_inputs(form, inputs, live=live, team="payments")
    assert refused.value.problems == {
        "cluster": "must be chosen from the options (not stage-1-payments)"
    }
    inputs["cluster"] = ["prod-eu-payments", "prod-us-payments"]
    cleaned = forms.validate_inputs(form, inputs, live=live, team="payments")
    assert cleaned["cluster"] == ["prod-eu-payments", "prod-us-payments"]


def test_without_a_live_lookup_a_live_field_is_refused_not_waved_through() -> None:
    form = RequestForm.model_validate(live_form("https://cmdb.example.com"))
    with pytest.raises(InputsInvalid) as refused:
        forms.validate_inputs(form, {"environment": "staging", "cluster": "anything"})
    assert refused.value.problems == {
        "cluster": "cannot be checked here: its options come from a live source"
    }
