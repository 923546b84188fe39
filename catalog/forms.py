"""Request-form validation on the server, and the form as JSON Schema."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from servicebay.catalog.errors import FieldUnknown, InputsInvalid
from servicebay.catalog.live_options import FieldOptions, LiveOptions
from servicebay.catalog.schemas import FieldType, FormField, RequestForm, compile_pattern
from servicebay.core import clock

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def visible_fields(form: RequestForm, inputs: dict[str, Any]) -> list[FormField]:
    """Fields shown for these inputs: a field whose show_if fails is hidden."""
    shown: list[FormField] = []
    values: dict[str, Any] = {}
    for form_field in form.fields:
        condition = form_field.show_if
        if condition is not None:
            parent_visible = any(f.name == condition.field for f in shown)
            if not parent_visible or not condition.matches(values.get(condition.field)):
                continue
        shown.append(form_field)
        values[form_field.name] = inputs.get(form_field.name, form_field.default)
    return shown


@dataclass(frozen=True)
class ShownInput:
    """One answer of a request as people read it: the field's label and the value in words."""

    label: str
    value: str


def shown_inputs(form: RequestForm, inputs: dict[str, Any]) -> list[ShownInput]:
    """A request's answers in the form's order, each under its field's label; an answer to a
    field the form no longer has keeps its name, made readable."""
    labels = {form_field.name: form_field.label for form_field in form.fields}
    order = [name for name in labels if name in inputs]
    order += [name for name in inputs if name not in labels]
    return [
        ShownInput(
            label=labels.get(name) or name.replace("_", " ").capitalize(),
            value=_in_words(inputs[name]),
        )
        for name in order
    ]


def _in_words(value: Any) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


def validate_inputs(
    form: RequestForm,
    inputs: dict[str, Any],
    *,
    live: LiveOptions | None = None,
    team: str | None = None,
) -> dict[str, Any]:
    """Clean inputs against the form; raise InputsInvalid naming every failing field.

    Hidden fields are neither required nor stored; unknown names are refused. A field with a
    live source takes only a value its source offers now, for the answers above it and the
    requester's ``team``; without ``live`` such a field cannot be checked and is refused.
    """
    problems: dict[str, str] = {}
    known = set(form.field_names())
    for name in inputs:
        if name not in known:
            problems[name] = "is not a field of this form"
    cleaned: dict[str, Any] = {}
    for form_field in visible_fields(form, {**inputs}):
        raw = inputs.get(form_field.name)
        if _is_empty(raw):
            if form_field.required:
                problems[form_field.name] = "is required"
            elif form_field.type is FieldType.BOOLEAN:
                cleaned[form_field.name] = False
            continue
        try:
            options = _options_now(form, form_field, cleaned, live=live, team=team)
            cleaned[form_field.name] = _clean(form_field, raw, options)
        except ValueError as error:
            problems[form_field.name] = str(error)
    if problems:
        raise InputsInvalid(problems)
    return cleaned


def _options_now(
    form: RequestForm,
    form_field: FormField,
    answers: dict[str, Any],
    *,
    live: LiveOptions | None,
    team: str | None,
) -> list[str]:
    """The values a choice field takes now: its own options, or its live source's."""
    if form_field.options_from is None:
        return form_field.options
    if live is None:
        raise ValueError("cannot be checked here: its options come from a live source")
    found = live.for_field(form_field, answers=answers, labels=labels_of(form), team=team)
    refusal = found.refusal()
    if refusal is not None:
        raise ValueError(refusal)
    return found.values()


def options_for(
    form: RequestForm,
    field_name: str,
    inputs: dict[str, Any],
    *,
    live: LiveOptions,
    team: str | None,
) -> FieldOptions:
    """A choice field's options for the answers given so far, as the form shows them while
    it is filled in: each answer above it counts as ``validate_inputs`` would clean it, and
    one it would refuse counts as not given."""
    form_field = next((f for f in form.fields if f.name == field_name), None)
    if form_field is None or form_field.type not in (FieldType.SELECT, FieldType.MULTISELECT):
        raise FieldUnknown(f"this form has no choice field named {field_name!r}")
    answers: dict[str, Any] = {}
    for above in visible_fields(form, inputs):
        if above.name == field_name:
            break
        raw = inputs.get(above.name)
        if _is_empty(raw):
            continue
        try:
            options = _options_now(form, above, answers, live=live, team=team)
            answers[above.name] = _clean(above, raw, options)
        except ValueError:
            continue
    return live.for_field(form_field, answers=answers, labels=labels_of(form), team=team)


def labels_of(form: RequestForm) -> dict[str, str]:
    return {form_field.name: form_field.label for form_field in form.fields}


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def _clean(form_field: FormField, raw: Any, options: list[str]) -> Any:
    kind = form_field.type
    if kind is FieldType.NUMBER:
        return _clean_number(form_field, raw)
    if kind is FieldType.BOOLEAN:
        return _clean_boolean(raw)
    if kind is FieldType.MULTISELECT:
        values = raw if isinstance(raw, list) else [raw]
        wrong = [str(v) for v in values if v not in options]
        if wrong:
            raise ValueError(f"must be chosen from the options (not {', '.join(wrong)})")
        return [str(v) for v in values]
    if not isinstance(raw, str):
        raise ValueError("must be text")
    text = raw.strip()
    _check_length(form_field, text)
    if kind is FieldType.SELECT and text not in options:
        raise ValueError("must be one of the options")
    if kind is FieldType.DATE:
        _check_date(form_field, text)
    if kind is FieldType.EMAIL and not EMAIL_RE.match(text):
        raise ValueError("must be an email address")
    if kind is FieldType.URL:
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http:// or https:// address")
    if form_field.pattern and not _matches(form_field.pattern, text):
        raise ValueError("does not have the expected format")
    return text


def _matches(pattern: str, text: str) -> bool:
    """The whole text matches, by RE2: linear time, whatever pattern a team published."""
    try:
        compiled = compile_pattern(pattern)
    except ValueError:
        raise ValueError(
            "cannot be checked: the offering's pattern is not supported; tell its team"
        ) from None
    return compiled.fullmatch(text) is not None


def _check_date(form_field: FormField, text: str) -> None:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValueError("must be a date (YYYY-MM-DD)") from None
    earliest = form_field.earliest
    if earliest is not None and day < earliest:
        if form_field.not_in_past and earliest == clock.now().date():
            raise ValueError(f"cannot be in the past: choose today ({earliest}) or later")
        raise ValueError(f"must be {earliest} or later")
    if form_field.max_date is not None and day > form_field.max_date:
        raise ValueError(f"must be {form_field.max_date} or earlier")


def _clean_number(form_field: FormField, raw: Any) -> float | int:
    if isinstance(raw, bool):
        raise ValueError("must be a number")
    try:
        number = float(raw)
    except (TypeError, ValueError):
        raise ValueError("must be a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError("must be a number")
    if form_field.min is not None and number < form_field.min:
        raise ValueError(f"must be at least {form_field.min:g}")
    if form_field.max is not None and number > form_field.max:
        raise ValueError(f"must be at most {form_field.max:g}")
    return int(number) if number.is_integer() else number


def _clean_boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in ("true", "on", "yes", "1"):
        return True
    if isinstance(raw, str) and raw.lower() in ("false", "off", "no", "0"):
        return False
    raise ValueError("must be true or false")


def _check_length(form_field: FormField, text: str) -> None:
    if form_field.min_length is not None and len(text) < form_field.min_length:
        raise ValueError(f"must have at least {form_field.min_length} characters")
    limit = form_field.length_limit
    if limit is not None and len(text) > limit:
        raise ValueError(f"must have at most {limit} characters")


def json_schema(form: RequestForm, *, title: str) -> dict[str, Any]:
    """The form as a JSON Schema (draft 2020-12); show_if becomes if/then."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    conditionals: list[dict[str, Any]] = []
    for form_field in form.fields:
        properties[form_field.name] = _field_schema(form_field)
        if not form_field.required:
            continue
        if form_field.show_if is None:
            required.append(form_field.name)
            continue
        condition = form_field.show_if
        match = (
            {"enum": condition.in_} if condition.in_ is not None else {"const": condition.equals}
        )
        conditionals.append(
            {
                "if": {"properties": {condition.field: match}, "required": [condition.field]},
                "then": {"required": [form_field.name]},
            }
        )
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
    if conditionals:
        schema["allOf"] = conditionals
    return schema


def _field_schema(form_field: FormField) -> dict[str, Any]:
    schema: dict[str, Any] = {"title": form_field.label}
    if form_field.help:
        schema["description"] = form_field.help
    if form_field.default is not None:
        schema["default"] = form_field.default
    kind = form_field.type
    if kind is FieldType.NUMBER:
        schema["type"] = "number"
        if form_field.min is not None:
            schema["minimum"] = form_field.min
        if form_field.max is not None:
            schema["maximum"] = form_field.max
        return schema
    if kind is FieldType.BOOLEAN:
        schema["type"] = "boolean"
        return schema
    live = form_field.options_from
    if live is not None:
        # The choices depend on the answers above and change over time: say where to get them.
        schema["description"] = _joined(
            schema.get("description"),
            "The options come from a live source and depend on "
            + (_listed_names(live.parameters) or "nothing else")
            + "; list them for your answers with the field's options endpoint.",
        )
        schema["x-options-from"] = {"depends_on": live.parameters}
    if kind is FieldType.MULTISELECT:
        items = {"type": "string"} if live else {"enum": form_field.options}
        schema.update(type="array", items=items, uniqueItems=True)
        return schema
    schema["type"] = "string"
    if kind is FieldType.SELECT and live is None:
        schema["enum"] = form_field.options
    formats = {FieldType.DATE: "date", FieldType.EMAIL: "email", FieldType.URL: "uri"}
    if kind in formats:
        schema["format"] = formats[kind]
    if kind is FieldType.DATE and (form_field.min_date or form_field.not_in_past):
        # JSON Schema has no date bounds in its core vocabulary; say them in words.
        earliest = "today" if form_field.not_in_past else str(form_field.min_date)
        if form_field.not_in_past and form_field.min_date:
            earliest = f"{form_field.min_date} and not before today"
        schema["description"] = _joined(schema.get("description"), f"From {earliest}.")
    if kind is FieldType.DATE and form_field.max_date:
        schema["description"] = _joined(
            schema.get("description"), f"At the latest {form_field.max_date}."
        )
    if form_field.min_length is not None:
        schema["minLength"] = form_field.min_length
    if form_field.length_limit is not None:
        schema["maxLength"] = form_field.length_limit
    if form_field.pattern:
        # JSON Schema patterns are not anchored; the server matches the whole value.
        schema["pattern"] = f"^(?:{form_field.pattern})$"
    return schema


def _listed_names(names: list[str]) -> str:
    return ", ".join(names)


def _joined(first: str | None, second: str) -> str:
    return f"{first} {second}" if first else second
