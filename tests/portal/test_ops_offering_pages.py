"""The ops offering pages, without JavaScript: every form posts and answers on its own."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from servicebay.catalog.models import Offering
from servicebay.core.identity import Role
from tests.factories import make_offering, make_team, make_user
from tests.receiver import Receiver
from tests.test_walking_skeleton import _sign_in

SECRET = "whsec_c2VydmljZWJheS10ZXN0LXNlY3JldA=="


def _editor_form(csrf: str, **overrides: str) -> dict[str, Any]:
    form = {
        "csrf_token": csrf,
        "slug": "vm",
        "name": "Virtual machine",
        "owner_team": "platform",
        "summary": "A Linux VM",
        "description": "A VM with **backups**.",
        "contact": "#platform",
        "runbook_url": "https://runbooks.example.com/vm",
        "field-0-name": "size",
        "field-0-label": "Size",
        "field-0-type": "select",
        "field-0-options": "small, large",
        "field-0-required": "on",
        "field-1-name": "reason",
        "field-1-label": "Why large?",
        "field-1-type": "textarea",
        "field-1-show_if_field": "size",
        "field-1-show_if_value": "large",
        "fulfilment_kind": "plugin",
        "plugin": "echo",
        "plugin_settings": '{"message": "VM ready."}',
        "sle_percent": "85",
        "sle_hours": "48",
    }
    form.update(overrides)
    return form


def _lead(db: Session) -> None:
    platform = make_team(db, "platform")
    make_user(db, "pat", team=platform, role=Role.LEAD)
    make_user(db, "mo", team=platform)
    make_user(db, "stranger", team=make_team(db, "payments"))
    db.commit()


def test_lead_creates_tests_and_publishes_an_offering_through_the_pages(
    client: TestClient, db: Session
) -> None:
    _lead(db)
    cookies = _sign_in(client, "pat")
    csrf = cookies["sb_csrf"]
    created = client.post("/ops/offerings/new", data=_editor_form(csrf), follow_redirects=False)
    assert created.status_code == 303, created.text
    assert created.headers["location"].endswith("/ops/offerings/vm")
    assert "Created draft version 1." in client.get(created.headers["location"]).text

    refused = client.post("/ops/offerings/vm/publish", data={"csrf_token": csrf})
    assert refused.status_code == 409
    assert "Successful test fulfilment" in refused.text

    tested = client.post("/ops/offerings/vm/test-fulfilment", data={"csrf_token": csrf})
    assert "Test fulfilment passed" in tested.text
    published = client.post("/ops/offerings/vm/publish", data={"csrf_token": csrf})
    assert "Published version 1" in published.text

    changed = client.post(
        "/ops/offerings/vm", data=_editor_form(csrf, name="Virtual machine (Linux)")
    )
    assert "Editing version 2 (draft)" in changed.text
    diff = client.get("/ops/offerings/vm/diff", params={"older": 1, "newer": 2})
    assert "<del>-name: Virtual machine</del>" in diff.text
    assert "<ins>+name: Virtual machine (Linux)</ins>" in diff.text
    listing = client.get("/ops/offerings")
    assert "Virtual machine" in listing.text and "draft v2" in listing.text


def test_invalid_regex_is_refused_with_422_and_nothing_saved(
    client: TestClient, db: Session
) -> None:
    _lead(db)
    cookies = _sign_in(client, "pat")
    answer = client.post(
        "/ops/offerings/new", data=_editor_form(cookies["sb_csrf"], **{"field-0-pattern": "[a-"})
    )
    assert answer.status_code == 422
    assert (
        "form.fields.0.pattern" in answer.text and "not a valid regular expression" in answer.text
    )
    assert 'value="Virtual machine"' in answer.text  # the typed values are kept
    assert db.scalar(select(func.count()).select_from(Offering)) == 0
    db.rollback()


def test_preview_renders_the_unsaved_form_as_consumers_see_it(
    client: TestClient, db: Session
) -> None:
    _lead(db)
    cookies = _sign_in(client, "pat")
    preview = client.post(
        "/ops/offerings/new/preview",
        data=_editor_form(cookies["sb_csrf"]),
        headers={"HX-Request": "true"},
    )
    assert preview.status_code == 200
    assert preview.text.lstrip().startswith('<section id="preview"')
    assert 'name="size"' in preview.text and 'data-show-if-field="size"' in preview.text


def test_webhook_secret_is_never_rendered_in_the_editor(client: TestClient, db: Session) -> None:
    _lead(db)
    cookies = _sign_in(client, "pat")
    with Receiver(secret=SECRET) as hook:
        form = _editor_form(
            cookies["sb_csrf"],
            fulfilment_kind="webhook",
            webhook_url=hook.url,
            webhook_secret=SECRET,
        )
        client.post("/ops/offerings/new", data=form)
        page = client.get("/ops/offerings/vm")
        assert SECRET not in page.text and "stored; leave empty to keep it" in page.text
        tested = client.post(
            "/ops/offerings/vm/test-fulfilment", data={"csrf_token": form["csrf_token"]}
        )
        assert SECRET not in tested.text
        assert hook.deliveries[0].signature_valid


def test_member_sees_no_lifecycle_buttons_and_may_not_publish(
    client: TestClient, db: Session
) -> None:
    _lead(db)
    platform_lead = _sign_in(client, "pat")
    client.post("/ops/offerings/new", data=_editor_form(platform_lead["sb_csrf"]))
    member = _sign_in(client, "mo")
    page = client.get("/ops/offerings/vm")
    assert page.status_code == 200 and 'id="publish"' not in page.text
    refused = client.post("/ops/offerings/vm/publish", data={"csrf_token": member["sb_csrf"]})
    assert refused.status_code == 403


def test_stranger_may_not_open_the_editor(client: TestClient, db: Session) -> None:
    _lead(db)
    team = make_team(db, "data")
    lead = make_user(db, team=team, role=Role.LEAD)
    make_offering(db, team, lead, slug="warehouse")
    db.commit()
    cookies = _sign_in(client, "stranger")
    assert client.get("/ops/offerings/warehouse").status_code == 403
    saved = client.post(
        "/ops/offerings/warehouse", data=_editor_form(cookies["sb_csrf"], slug="warehouse")
    )
    assert saved.status_code == 403
    assert "warehouse" not in client.get("/ops/offerings").text


def test_member_may_not_deprecate_or_retire_from_the_pages(client: TestClient, db: Session) -> None:
    _lead(db)
    lead = _sign_in(client, "pat")
    client.post("/ops/offerings/new", data=_editor_form(lead["sb_csrf"]))
    client.post("/ops/offerings/vm/test-fulfilment", data={"csrf_token": lead["sb_csrf"]})
    client.post("/ops/offerings/vm/publish", data={"csrf_token": lead["sb_csrf"]})
    member = _sign_in(client, "mo")
    for action in ("deprecate", "retire"):
        answer = client.post(f"/ops/offerings/vm/{action}", data={"csrf_token": member["sb_csrf"]})
        assert answer.status_code == 403, action
    assert "published" in client.get("/ops/offerings").text


def test_the_offerings_list_pages_and_filters_by_name(client: TestClient, db: Session) -> None:
    team = make_team(db, "platform")
    lead = make_user(db, "pat", team=team, role=Role.LEAD)
    for number in range(23):
        make_offering(db, team, lead, slug=f"vm-{number:02d}", name=f"VM {number:02d}")
    make_offering(db, team, lead, slug="bucket", name="Storage bucket")
    db.commit()
    _sign_in(client, "pat")

    first = client.get("/ops/offerings").text
    assert "24 offerings" in first and "Page 1 of 2" in first
    assert "Storage bucket" in first and "VM 18" in first and "VM 19" not in first
    second = client.get("/ops/offerings?page=2").text
    assert "VM 19" in second and "VM 22" in second and "Storage bucket" not in second

    found = client.get("/ops/offerings?q=BUCK").text
    assert "1 offering matching" in found and "Storage bucket" in found and "VM 00" not in found
    assert "No offering of your teams matches" in client.get("/ops/offerings?q=kafka").text


def test_the_editor_shows_no_message_taken_from_the_address(
    client: TestClient, db: Session
) -> None:
    _lead(db)
    cookies = _sign_in(client, "pat")
    client.post("/ops/offerings/new", data=_editor_form(cookies["sb_csrf"]))

    page = client.get("/ops/offerings/vm", params={"notice": "Your account is locked: call 555"})

    assert page.status_code == 200
    assert "call 555" not in page.text


def test_a_flash_message_the_server_did_not_sign_is_not_shown(
    client: TestClient, db: Session
) -> None:
    _lead(db)
    cookies = _sign_in(client, "pat")
    client.post("/ops/offerings/new", data=_editor_form(cookies["sb_csrf"]))

    client.cookies.set("servicebay_flash", "error|Your account is locked: call 555")
    page = client.get("/ops/offerings/vm")

    assert "call 555" not in page.text


def test_the_editor_names_each_wrong_field_in_a_sentence(client: TestClient, db: Session) -> None:
    _lead(db)
    cookies = _sign_in(client, "pat")
    form = _editor_form(
        cookies["sb_csrf"],
        slug="Virtual Machine",
        name="",
        summary="x" * 501,
        **{"field-0-name": "Size"},
    )

    refused = client.post("/ops/offerings/new", data=form)

    assert refused.status_code == 422
    for sentence in (
        "The slug may only have lowercase letters, digits and dashes",
        "The name cannot be empty.",
        "The summary may have at most 500 characters.",
        "starts with a lowercase letter and may only have lowercase letters, digits and",
    ):
        assert sentence in refused.text
    assert not any(raw in refused.text for raw in ("String should", "^[a-z", "Value error"))


def _publish_button(page: str) -> str:
    start = page.index('id="publish"')
    return page[page.rindex("<button", 0, start) : page.index(">", start)]


def test_publish_is_disabled_with_the_failing_checks_named_until_they_pass(
    client: TestClient, db: Session
) -> None:
    _lead(db)
    make_user(db, "root", admin=True)
    db.commit()
    cookies = _sign_in(client, "pat")
    csrf = cookies["sb_csrf"]
    client.post("/ops/offerings/new", data=_editor_form(csrf, sle_percent="", sle_hours=""))

    editor = client.get("/ops/offerings/vm").text
    assert "disabled" in _publish_button(editor)
    blocked = editor[editor.index('id="publish-blocked"') :].split("</div>")[0]
    assert "Successful test fulfilment" in blocked and "Service-level expectation" in blocked
    assert "Description" not in blocked  # a passing check is not named
    forced = client.post("/ops/offerings/vm/publish", data={"csrf_token": csrf})
    assert forced.status_code == 409  # the server still refuses

    client.post("/ops/offerings/vm/test-fulfilment", data={"csrf_token": csrf})
    client.post("/ops/offerings/vm", data=_editor_form(csrf))
    client.post("/ops/offerings/vm/test-fulfilment", data={"csrf_token": csrf})
    ready = client.get("/ops/offerings/vm").text
    assert "disabled" not in _publish_button(ready) and 'id="publish-blocked"' not in ready


def test_an_admin_may_publish_past_failing_checks_with_a_reason(
    client: TestClient, db: Session
) -> None:
    _lead(db)
    make_user(db, "root", admin=True)
    db.commit()
    _sign_in(client, "pat")
    client.post("/ops/offerings/new", data=_editor_form(client.cookies["sb_csrf"]))

    _sign_in(client, "root")
    editor = client.get("/ops/offerings/vm").text
    assert "disabled" not in _publish_button(editor)
    assert "Override reason" in editor


def test_the_editor_sets_a_date_fields_bounds(client: TestClient, db: Session) -> None:
    _lead(db)
    cookies = _sign_in(client, "pat")
    form = _editor_form(
        cookies["sb_csrf"],
        **{
            "field-2-name": "needed_by",
            "field-2-label": "Needed by",
            "field-2-type": "date",
            "field-2-not_in_past": "on",
            "field-2-max_date": "2030-12-31",
        },
    )
    created = client.post("/ops/offerings/new", data=form, follow_redirects=False)
    assert created.status_code == 303, created.text

    editor = client.get("/ops/offerings/vm").text
    assert re.search(r'id="field-2-not_in_past"[^>]*checked', editor)
    assert re.search(r'id="field-2-max_date"[^>]*value="2030-12-31"', editor)


def test_the_editor_keeps_a_fields_live_options_source(client: TestClient, db: Session) -> None:
    _lead(db)
    cookies = _sign_in(client, "pat")
    form = _editor_form(
        cookies["sb_csrf"],
        **{
            "field-2-name": "cluster",
            "field-2-label": "Cluster",
            "field-2-type": "select",
            "field-2-options_url": "https://cmdb.example.com/clusters{?team}",
            "field-2-options_items": "$.clusters[*]",
            "field-2-options_value": "id",
            "field-2-options_cache_seconds": "120",
        },
    )
    created = client.post("/ops/offerings/new", data=form, follow_redirects=False)
    assert created.status_code == 303, created.text

    editor = client.get("/ops/offerings/vm").text
    assert re.search(
        r'id="field-2-options_url"[^>]*value="https://cmdb.example.com/clusters\{\?team\}"', editor
    )
    assert re.search(r'id="field-2-options_cache_seconds"[^>]*value="120"', editor)
    saved = client.post(
        "/ops/offerings/vm",
        data=_editor_form(
            cookies["sb_csrf"],
            **{
                "field-2-name": "cluster",
                "field-2-label": "Cluster",
                "field-2-type": "select",
                "field-2-options_url": "https://cmdb.example.com/clusters{?region}",
            },
        ),
    )
    assert saved.status_code == 422
    assert "names {region}, which is neither a field above it nor {team}" in saved.text
