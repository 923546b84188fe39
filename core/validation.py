"""Validation errors as sentences people read: "The slug may only have lowercase letters…",
not a validator's "String should match pattern '^[a-z0-9]…'".

Pydantic reports each problem with a type, a location and the constraint it checked; this
module words each kind once, for every face (pages, the API's problems). A context that
uses a pattern says in words what it means with ``describe_pattern``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

_PATTERN_WORDS: dict[str, str] = {}
_WORDS = {"url": "URL", "sle": "service level", "id": "ID"}
# A validator's message that starts so continues the sentence about its field.
_PREDICATES = ("must ", "may ", "is ", "are ", "needs ", "cannot ", "has ", "does ")


def describe_pattern(pattern: str, words: str) -> None:
    """Say what text matching ``pattern`` looks like, e.g. "may only have lowercase
    letters, digits and dashes"; used when a value does not match it."""
    _PATTERN_WORDS[pattern] = words


def problems_in_words(
    errors: Iterable[Mapping[str, Any]],
    *,
    labels: Mapping[str, str] | None = None,
    skip: int = 0,
) -> dict[str, str]:
    """Each error as location path → sentence. ``labels`` names fields by path (else the
    path in words); ``skip`` drops leading location parts such as FastAPI's ``body``."""
    problems: dict[str, str] = {}
    for error in errors:
        location = [part for part in error.get("loc", ())[skip:] if not _is_type_tag(part)]
        path = ".".join(str(part) for part in location)
        subject = (labels or {}).get(path) or _subject(location)
        problems.setdefault(path or "definition", sentence(error, subject=subject))
    return problems


def sentence(error: Mapping[str, Any], *, subject: str) -> str:
    """One error as a sentence about ``subject``."""
    kind = str(error.get("type", ""))
    context = error.get("ctx") or {}
    if kind in ("value_error", "assertion_error"):
        message = str(error.get("msg", "")).removeprefix("Value error, ")
        message = message.removeprefix("Assertion failed, ")
        joint = " " if message.startswith(_PREDICATES) else ": "
        return _capital(f"{subject}{joint}{message}" if subject else message) + _stop(message)
    predicate = _predicate(kind, context, error)
    return _capital(f"{subject} {predicate}" if subject else predicate) + "."


def _predicate(kind: str, context: Mapping[str, Any], error: Mapping[str, Any]) -> str:
    if kind == "missing":
        return "is required"
    if kind == "string_too_short":
        least = int(context.get("min_length", 1))
        return "cannot be empty" if least <= 1 else f"needs at least {least} characters"
    if kind == "string_too_long":
        return f"may have at most {context.get('max_length')} characters"
    if kind == "too_short":
        return f"needs at least {context.get('min_length')} entries"
    if kind == "too_long":
        return f"may have at most {context.get('max_length')} entries"
    if kind == "string_pattern_mismatch":
        pattern = str(context.get("pattern", ""))
        return _PATTERN_WORDS.get(pattern, "does not have the expected form")
    bounds = {
        "greater_than_equal": ("must be at least", "ge"),
        "greater_than": ("must be more than", "gt"),
        "less_than_equal": ("must be at most", "le"),
        "less_than": ("must be less than", "lt"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        return f"{words} {_number(context.get(key))}"
    if kind in ("float_parsing", "float_type", "decimal_parsing", "finite_number"):
        return "must be a number"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "must be a whole number"
    if kind in ("bool_parsing", "bool_type"):
        return "must be yes or no (true or false)"
    if kind in ("string_type", "string_unicode"):
        return "must be text"
    if kind in ("list_type", "tuple_type", "set_type"):
        return "must be a list"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "must be a group of settings (an object)"
    if kind in ("enum", "literal_error"):
        return f"must be one of {context.get('expected', 'the choices')}"
    if kind == "union_tag_invalid":
        return f"must be one of {context.get('expected_tags', 'the choices')}"
    if kind == "union_tag_not_found":
        return f"needs its {context.get('discriminator', 'kind')}".replace("'", "")
    if kind == "extra_forbidden":
        return "is not a setting this takes"
    if kind.startswith("url_"):
        return "must be an http:// or https:// address"
    if kind == "json_invalid":
        return "is not valid JSON"
    message = str(error.get("msg", "is not valid"))
    return message[:1].lower() + message[1:]


def _subject(location: list[Any]) -> str:
    """A location in words: ``form.fields.0.label`` is "Form fields #1 label"."""
    words: list[str] = []
    for part in location:
        if isinstance(part, int):
            words.append(f"#{part + 1}")
        else:
            words.extend(_WORDS.get(word, word) for word in str(part).split("_"))
    return " ".join(words)


def _is_type_tag(part: Any) -> bool:
    """Pydantic names the validators and unions it ran in a location; they are not where
    the value is."""
    return str(part).startswith(("function-", "tagged-union[", "union["))


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _stop(message: str) -> str:
    return "" if message.endswith((".", "?", "!")) else "."
