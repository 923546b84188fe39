"""Request-form validation: every failing field with a human message; hidden fields ignored."""

from __future__ import annotations

import pytest

from servicebay.catalog.errors import InputsInvalid
from servicebay.catalog.forms import json_schema, validate_inputs
from servicebay.catalog.schemas import RequestForm

FORM = RequestForm.model_validate(
    {
        "fields": [
            {
                "name": "name",
                "label": "Name",
                "required": True,
                "min_length": 3,
                "pattern": "[a-z_]+",
            },
            {"name": "days", "label": "Days", "type": "number", "min": 1, "max": 30},
            {
                "name": "kind",
                "label": "Kind",
                "type": "select",
                "options": ["vm", "db"],
                "required": True,
            },
            {
                "name": "engine",
                "label": "Engine",
                "type": "select",
                "options": ["postgres", "mysql"],
                "required": True,
                "show_if": {"field": "kind", "equals": "db"},
            },
            {"name": "owner", "label": "Owner", "type": "email"},
            {"name": "docs", "label": "Docs", "type": "url"},
            {"name": "start", "label": "Start", "type": "date"},
            {"name": "zones", "label": "Zones", "type": "multiselect", "options": ["a", "b"]},
            {"name": "urgent", "label": "Urgent", "type": "boolean"},
        ]
    }
)


def test_every_failing_field_is_reported_with_a_message() -> None:
    with pytest.raises(InputsInvalid) as refused:
        validate_inputs(
            FORM,
            {
                "name": "AB",
                "days": 99,
                "kind": "db",
                "owner": "nobody",
                "docs": "ftp://x",
                "start": "tomorrow",
                "zones": ["c"],
                "extra": 1,
            },
        )
    assert refused.value.problems == {
        "extra": "is not a field of this form",
        "name": "must have at least 3 characters",
        "days": "must be at most 30",
        "engine": "is required",
        "owner": "must be an email address",
        "docs": "must be an http:// or https:// address",
        "start": "must be a date (YYYY-MM-DD)",
        "zones": "must be chosen from the options (not c)",
    }


def test_hidden_field_is_neither_required_nor_stored() -> None:
    cleaned = validate_inputs(FORM, {"name": "ledger", "kind": "vm", "engine": "mysql"})
    assert cleaned == {"name": "ledger", "kind": "vm", "urgent": False}


def test_shown_field_is_validated_and_kept() -> None:
    cleaned = validate_inputs(FORM, {"name": "ledger", "kind": "db", "engine": "postgres"})
    assert cleaned["engine"] == "postgres"


def test_json_schema_makes_conditional_fields_required_only_when_shown() -> None:
    schema = json_schema(FORM, title="Things")
    assert schema["required"] == ["name", "kind"]
    assert schema["allOf"] == [
        {
            "if": {"properties": {"kind": {"const": "db"}}, "required": ["kind"]},
            "then": {"required": ["engine"]},
        }
    ]
    assert schema["properties"]["days"] == {
        "title": "Days",
        "type": "number",
        "minimum": 1,
        "maximum": 30,
    }
