"""Request-form validation: every failing field with a human message; hidden fields ignored."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from servicebay.catalog import service as catalog_service
from servicebay.catalog.errors import InputsInvalid, NotReady
from servicebay.catalog.forms import json_schema, validate_inputs
from servicebay.catalog.schemas import STORED, RequestForm
from servicebay.core import clock
from servicebay.core.identity import Role
from tests.factories import make_offering, make_team, make_user, pass_dry_run

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


def _text_form(pattern: str, *, stored: bool = False) -> RequestForm:
    fields = {"fields": [{"name": "code", "label": "Code", "pattern": pattern}]}
    return RequestForm.model_validate(fields, context=STORED if stored else None)


def test_a_pattern_that_backtracks_catastrophically_elsewhere_is_matched_in_linear_time() -> None:
    # (a+)+ on "aaa…a!" takes a backtracking engine 2^n steps: Python's re would not
    # finish this in a lifetime. A version saved before patterns were checked may hold one.
    form = _text_form("(a+)+", stored=True)
    with pytest.raises(InputsInvalid) as refused:
        validate_inputs(form, {"code": "a" * 999 + "!"})
    assert refused.value.problems == {"code": "does not have the expected format"}
    assert validate_inputs(form, {"code": "a" * 1000}) == {"code": "a" * 1000}


@pytest.mark.parametrize(
    ("pattern", "said"),
    [
        ("(a+)+", "a repeated group may not itself hold a repetition, as in (a+)+"),
        ("(a*b?)*", "a repeated group may not itself hold a repetition"),
        ("((ab)+c){2,}", "a repeated group may not itself hold a repetition"),
        ("(?=a)a", "no inline flags, named groups or look-arounds"),
        ("(?i)abc", "no inline flags, named groups or look-arounds"),
        ("(?P<x>a)", "no inline flags, named groups or look-arounds"),
        (r"(a)\1", "not a valid regular expression: invalid escape sequence: \\1"),
        (r"\Aabc", r"\A is not understood by browsers"),
        ("[[:alpha:]]+", "POSIX classes such as [[:alpha:]]"),
        (r"\pL+", r"write Unicode classes with braces: \p{L}"),
        ("a{1001}", "not a valid regular expression: invalid repetition size"),
        ("[a-", "not a valid regular expression"),
        ("a" * 501, "String should have at most 500 characters"),
    ],
)
def test_a_pattern_is_refused_when_saved_with_the_reason(pattern: str, said: str) -> None:
    with pytest.raises(ValidationError) as refused:
        _text_form(pattern)
    assert said in str(refused.value)


@pytest.mark.parametrize(
    "pattern",
    [
        "[a-z][a-z0-9_]{2,30}",
        r"\d{3}-\d{4}",
        "(foo|bar)+",
        "([a-z]+)?-(x|y)",
        "(ab){2}c*",
        r"[\]a-z]+",
        r"\p{Lu}\p{Ll}+",
        "x{2,}y?",
    ],
)
def test_ordinary_patterns_are_accepted(pattern: str) -> None:
    assert _text_form(pattern).fields[0].pattern == pattern


def test_the_json_schema_pattern_is_anchored_as_the_server_matches_the_whole_value() -> None:
    schema = json_schema(_text_form("[a-z]+|[0-9]+"), title="Codes")
    assert schema["properties"]["code"]["pattern"] == "^(?:[a-z]+|[0-9]+)$"
    assert validate_inputs(_text_form("[a-z]+|[0-9]+"), {"code": "abc"}) == {"code": "abc"}
    with pytest.raises(InputsInvalid):
        validate_inputs(_text_form("[a-z]+|[0-9]+"), {"code": "abc1"})


def test_a_stored_pattern_the_engine_cannot_compile_refuses_inputs_and_blocks_publishing(
    db: Session,
) -> None:
    team = make_team(db)
    lead = make_user(db, team=team, role=Role.LEAD)
    offering = make_offering(db, team, lead, publish=False)
    version = catalog_service.head_version(db, offering)
    version.form = {"fields": [{"name": "code", "label": "Code", "pattern": "(?=x)x"}]}
    flag_modified(version, "form")
    pass_dry_run(db, offering)
    form = catalog_service.form_of(version)
    with pytest.raises(InputsInvalid) as refused:
        validate_inputs(form, {"code": "x"})
    assert refused.value.problems == {
        "code": "cannot be checked: the offering's pattern is not supported; tell its team"
    }
    with pytest.raises(NotReady) as not_ready:
        catalog_service.publish(db, actor=lead, offering=offering)
    assert "code: only plain (...) and (?:...) groups" in not_ready.value.problems["patterns"]
    db.rollback()


def test_a_date_that_may_not_lie_in_the_past_is_refused_with_a_clear_message() -> None:
    clock.freeze(datetime(2026, 12, 1, 9, 30, tzinfo=UTC))
    try:
        form = RequestForm.model_validate(
            {
                "fields": [
                    {
                        "name": "needed_by",
                        "label": "Needed by",
                        "type": "date",
                        "not_in_past": True,
                    },
                    {
                        "name": "window",
                        "label": "Maintenance window",
                        "type": "date",
                        "min_date": "2027-01-01",
                        "max_date": "2027-03-31",
                    },
                ]
            }
        )
        with pytest.raises(InputsInvalid) as refused:
            validate_inputs(form, {"needed_by": "2026-11-30", "window": "2027-04-01"})
        assert refused.value.problems == {
            "needed_by": "cannot be in the past: choose today (2026-12-01) or later",
            "window": "must be 2027-03-31 or earlier",
        }
        with pytest.raises(InputsInvalid) as early:
            validate_inputs(form, {"window": "2026-12-31"})
        assert early.value.problems == {"window": "must be 2027-01-01 or later"}
        today = validate_inputs(form, {"needed_by": "2026-12-01", "window": "2027-01-01"})
        assert today == {"needed_by": "2026-12-01", "window": "2027-01-01"}
    finally:
        clock.reset()
