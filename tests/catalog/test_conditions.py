"""The approval-condition language: parsed and evaluated without eval, failing only its own way."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from servicebay.catalog.conditions import ConditionError, check, evaluate, fields_of, parse


@pytest.mark.parametrize(
    ("condition", "inputs", "expected"),
    [
        ("cost > 500", {"cost": 501}, True),
        ("cost > 500", {"cost": "499"}, False),
        ('cost > 500 and region == "eu"', {"cost": 900, "region": "eu"}, True),
        ('cost > 500 and region == "eu"', {"cost": 900, "region": "us"}, False),
        ('cost > 500 or region == "eu"', {"cost": 1, "region": "eu"}, True),
        ("not urgent", {"urgent": False}, True),
        ('size in ["large", "xl"]', {"size": "xl"}, True),
        ("(a or b) and c", {"a": False, "b": True, "c": True}, True),
        ("days >= 30", {}, False),
        ("days != null", {"days": 3}, True),
        ("name < 5", {"name": "abc"}, False),
    ],
)
def test_condition_decides_on_the_inputs(condition: str, inputs: dict, expected: bool) -> None:
    assert check(condition, inputs) is expected


@pytest.mark.parametrize(
    "condition",
    ["", "cost >", "cost > > 1", "(cost > 1", "__import__('os')", "cost = 1", "a and", "[1, 2"],
)
def test_malformed_condition_is_refused_with_a_condition_error(condition: str) -> None:
    with pytest.raises(ConditionError):
        parse(condition)


def test_condition_names_the_fields_it_reads() -> None:
    assert fields_of(parse('cost > 5 and (region == "eu" or not urgent)')) == {
        "cost",
        "region",
        "urgent",
    }


def test_deeply_nested_condition_is_refused_not_crashing() -> None:
    with pytest.raises(ConditionError):
        parse("(" * 500 + "a" + ")" * 500)
    with pytest.raises(ConditionError):
        parse("not " * 500 + "a")
    with pytest.raises(ConditionError):
        parse("a in " + "[" * 990 + "1" + "]" * 990)


def test_long_flat_condition_evaluates_without_exhausting_the_stack() -> None:
    node = parse("a or " * 399 + "a")
    assert evaluate(node, {"a": 1}) is True
    assert fields_of(node) == {"a"}


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=80))
def test_parser_never_raises_anything_but_its_own_error(text: str) -> None:
    with contextlib.suppress(ConditionError):
        parse(text)


ATOMS = st.sampled_from(
    [
        "a",
        "b",
        "cost",
        "1",
        "2.5",
        '"eu"',
        "true",
        "null",
        '[1, "x"]',
        "(",
        ")",
        "and",
        "or",
        "not",
        "in",
        "==",
        "!=",
        "<",
        ">=",
        ",",
    ]
)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(ATOMS, max_size=12).map(" ".join),
    st.dictionaries(
        st.sampled_from(["a", "b", "cost"]),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.text(max_size=5),
            st.lists(st.text(max_size=3), max_size=3),
        ),
    ),
)
def test_condition_built_from_tokens_parses_and_evaluates_or_fails_cleanly(
    text: str, inputs: dict
) -> None:
    try:
        node = parse(text)
    except ConditionError:
        return
    assert evaluate(node, inputs) in (True, False)
