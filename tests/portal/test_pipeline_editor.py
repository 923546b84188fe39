"""Pipelines in the offering editor: written as a JSON list of steps, kept on the next
edit, tested step by step before publishing, and refused with the step when a template
names an output no earlier step declares."""

from __future__ import annotations

import html
import json

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from servicebay.catalog.models import Offering
from tests.portal.test_ops_offering_pages import _editor_form, _lead
from tests.test_walking_skeleton import _sign_in

STEPS = [
    {"name": "create", "kind": "plugin", "plugin": "echo", "outputs": ["message"]},
    {
        "name": "announce",
        "kind": "plugin",
        "plugin": "echo",
        "params": {"text": "{{ steps.create.outputs.message }} for {{ inputs.size }}"},
    },
]


def test_a_pipeline_written_in_the_editor_is_kept_and_its_dry_run_tries_every_step(
    client: TestClient, db: Session
) -> None:
    _lead(db)
    csrf = _sign_in(client, "pat")["sb_csrf"]
    form = _editor_form(csrf, fulfilment_kind="pipeline", pipeline_steps=json.dumps(STEPS))
    created = client.post("/ops/offerings/new", data=form, follow_redirects=False)
    assert created.status_code == 303, created.text

    editor = html.unescape(client.get("/ops/offerings/vm").text)
    assert '"name": "announce"' in editor
    assert "{{ steps.create.outputs.message }}" in editor

    tested = client.post("/ops/offerings/vm/test-fulfilment", data={"csrf_token": csrf})
    assert "Test fulfilment passed" in tested.text
    assert "step 1 (create)" in tested.text and "step 2 (announce)" in tested.text


def test_a_template_naming_an_undeclared_output_is_refused_with_422_naming_step_and_output(
    client: TestClient, db: Session
) -> None:
    _lead(db)
    csrf = _sign_in(client, "pat")["sb_csrf"]
    broken = json.loads(json.dumps(STEPS))
    broken[1]["params"]["text"] = "{{ steps.create.outputs.mesage }}"
    form = _editor_form(csrf, fulfilment_kind="pipeline", pipeline_steps=json.dumps(broken))
    answer = client.post("/ops/offerings/new", data=form)
    assert answer.status_code == 422
    text = html.unescape(answer.text)
    assert "step 2 (announce)" in text and "'mesage'" in text
    assert db.scalar(select(func.count()).select_from(Offering)) == 0
    db.rollback()
