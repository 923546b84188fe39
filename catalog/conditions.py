"""Conditions on request inputs, e.g. ``cost > 500 and (region == "eu" or urgent)``.

Parsed by a small recursive-descent parser and evaluated over the inputs; never
``eval``. Grammar::

    expr       := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | comparison
    comparison := operand (("==" | "!=" | "<" | "<=" | ">" | ">=" | "in") operand)?
    operand    := NAME | NUMBER | STRING | "true" | "false" | "null" | list | "(" expr ")"
    list       := "[" (operand ("," operand)*)? "]"

A missing input is ``null``; ordering comparisons with ``null`` or across types
are false rather than errors, so a condition never fails a request at run time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from servicebay.catalog.errors import CatalogError
from servicebay.core.errors import Invalid

MAX_LENGTH = 2000
MAX_DEPTH = 50


class ConditionError(CatalogError, Invalid):
    """The condition cannot be parsed; the message says where and why."""


@dataclass(frozen=True)
class Token:
    kind: str  # name, number, string, op, punct, keyword, end
    value: Any
    position: int


_TOKEN_RE = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<op>==|!=|<=|>=|<|>)
  | (?P<punct>[()\[\],])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.VERBOSE,
)
KEYWORDS = {"and", "or", "not", "in", "true", "false", "null"}


def tokenize(text: str) -> list[Token]:
    if len(text) > MAX_LENGTH:
        raise ConditionError(f"condition is longer than {MAX_LENGTH} characters")
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN_RE.match(text, position)
        if match is None:
            raise ConditionError(f"unexpected character {text[position]!r} at {position + 1}")
        kind = match.lastgroup or ""
        raw = match.group()
        if kind == "number":
            tokens.append(Token("number", float(raw) if "." in raw else int(raw), position))
        elif kind == "string":
            body = raw[1:-1]
            tokens.append(Token("string", re.sub(r"\\(.)", r"\1", body), position))
        elif kind == "name":
            tokens.append(Token("keyword" if raw in KEYWORDS else "name", raw, position))
        elif kind in ("op", "punct"):
            tokens.append(Token(kind, raw, position))
        position = match.end()
    tokens.append(Token("end", None, len(text)))
    return tokens


# The syntax tree: tuples, so it is immutable and cheap.
Node = tuple[Any, ...]


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.index = 0
        self.depth = 0

    def peek(self) -> Token:
        return self.tokens[self.index]

    def take(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expect(self, kind: str, value: str) -> None:
        token = self.take()
        if token.kind != kind or token.value != value:
            raise ConditionError(f"expected {value!r} at {token.position + 1}")

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise ConditionError("condition is empty")
        node = self.or_expr()
        token = self.peek()
        if token.kind != "end":
            raise ConditionError(f"unexpected {token.value!r} at {token.position + 1}")
        return node

    def _nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ConditionError("condition is nested too deeply")

    # Chains of "or" and "and" become one n-ary node, so evaluating a long flat
    # condition never recurses deeper than its parentheses.
    def or_expr(self) -> Node:
        terms = [self.and_expr()]
        while self.peek() == Token("keyword", "or", self.peek().position):
            self.take()
            terms.append(self.and_expr())
        return terms[0] if len(terms) == 1 else ("or", *terms)

    def and_expr(self) -> Node:
        terms = [self.not_expr()]
        while self.peek() == Token("keyword", "and", self.peek().position):
            self.take()
            terms.append(self.not_expr())
        return terms[0] if len(terms) == 1 else ("and", *terms)

    def not_expr(self) -> Node:
        token = self.peek()
        if token.kind == "keyword" and token.value == "not":
            self.take()
            self._nest()
            node = ("not", self.not_expr())
            self.depth -= 1
            return node
        return self.comparison()

    def comparison(self) -> Node:
        left = self.operand()
        token = self.peek()
        if token.kind == "op" or (token.kind == "keyword" and token.value == "in"):
            self.take()
            return ("cmp", token.value, left, self.operand())
        return left

    def operand(self) -> Node:
        token = self.take()
        if token.kind == "name":
            return ("field", token.value)
        if token.kind in ("number", "string"):
            return ("const", token.value)
        if token.kind == "keyword" and token.value in ("true", "false", "null"):
            return ("const", {"true": True, "false": False, "null": None}[token.value])
        if token.kind == "punct" and token.value == "(":
            self._nest()
            node = self.or_expr()
            self.depth -= 1
            self.expect("punct", ")")
            return node
        if token.kind == "punct" and token.value == "[":
            self._nest()
            items: list[Node] = []
            if not (self.peek().kind == "punct" and self.peek().value == "]"):
                items.append(self.operand())
                while self.peek().kind == "punct" and self.peek().value == ",":
                    self.take()
                    items.append(self.operand())
            self.expect("punct", "]")
            self.depth -= 1
            return ("list", tuple(items))
        shown = "end of condition" if token.kind == "end" else repr(token.value)
        raise ConditionError(f"expected a value at {token.position + 1}, found {shown}")


def parse(text: str) -> Node:
    """Parse a condition; raise ConditionError for anything malformed."""
    if not isinstance(text, str):
        raise ConditionError("condition must be text")
    return _Parser(text).parse()


def fields_of(node: Node) -> set[str]:
    """Names of the inputs a condition reads."""
    kind = node[0]
    if kind == "field":
        return {node[1]}
    if kind == "const":
        return set()
    if kind == "list":
        return set().union(*(fields_of(item) for item in node[1]))
    if kind == "cmp":
        return fields_of(node[2]) | fields_of(node[3])
    return set().union(*(fields_of(child) for child in node[1:]))


def evaluate(node: Node, inputs: dict[str, Any]) -> bool:
    return _truthy(_value(node, inputs))


def check(text: str, inputs: dict[str, Any]) -> bool:
    """Parse and evaluate in one step."""
    return evaluate(parse(text), inputs)


def _value(node: Node, inputs: dict[str, Any]) -> Any:
    kind = node[0]
    if kind == "const":
        return node[1]
    if kind == "field":
        return inputs.get(node[1])
    if kind == "list":
        return [_value(item, inputs) for item in node[1]]
    if kind == "not":
        return not evaluate(node[1], inputs)
    if kind == "and":
        return all(evaluate(term, inputs) for term in node[1:])
    if kind == "or":
        return any(evaluate(term, inputs) for term in node[1:])
    return _compare(node[1], _value(node[2], inputs), _value(node[3], inputs))


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "==":
        return bool(_normal(left) == _normal(right))
    if op == "!=":
        return bool(_normal(left) != _normal(right))
    if op == "in":
        if isinstance(right, list):
            return _normal(left) in [_normal(item) for item in right]
        if isinstance(right, str) and isinstance(left, str):
            return left in right
        return False
    left, right = _normal(left), _normal(right)
    numbers = (int, float)
    comparable = (isinstance(left, numbers) and isinstance(right, numbers)) or (
        isinstance(left, str) and isinstance(right, str)
    )
    if not comparable or isinstance(left, bool) or isinstance(right, bool):
        return False
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def _normal(value: Any) -> Any:
    """Numbers typed as text in a form compare as numbers."""
    if isinstance(value, str):
        try:
            return float(value) if re.fullmatch(r"-?\d+(?:\.\d+)?", value) else value
        except ValueError:
            return value
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _truthy(value: Any) -> bool:
    return bool(value) if not isinstance(value, list) else len(value) > 0
