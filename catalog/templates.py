"""The template syntax of pipeline steps: ``{{ inputs.size }}`` and
``{{ steps.provision.outputs.host }}``, rendered in Jinja2's sandbox (no attribute of a
Python object, no code), checked before an offering is saved."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateError, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOTS = frozenset({"inputs", "steps"})
RENDERED_MAX = 10_000

_ENVIRONMENT = ImmutableSandboxedEnvironment(
    undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
)


class TemplateFailure(Exception):
    """A template that cannot be rendered with what the request has."""


def unknown_references(texts: Iterable[str], *, earlier: Mapping[str, set[str]]) -> Iterator[str]:
    """What is wrong with the templates of a step whose earlier steps declare ``earlier``
    (step name -> its output names): syntax, unknown names, unknown step outputs."""
    for text in texts:
        try:
            tree = _ENVIRONMENT.parse(text)
        except TemplateError as error:
            yield f"template {text!r} does not parse: {error}"
            continue
        for name in sorted(meta.find_undeclared_variables(tree) - ROOTS):
            yield f"template {text!r} refers to {name!r}; only inputs and steps are known"
        yield from _step_references(text, tree, earlier)


def _step_references(
    text: str, tree: nodes.Template, earlier: Mapping[str, set[str]]
) -> Iterator[str]:
    chains = 0
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        path = _path(node)
        if len(path) != 4 or path[0] != "steps":
            continue
        chains += 1
        _, step, middle, output = path
        if middle != "outputs":
            yield f"template {text!r}: write steps.{step}.outputs.<name>"
        elif step not in earlier:
            yield f"template {text!r} refers to step {step!r}, which is not an earlier step"
        elif output not in earlier[step]:
            yield (
                f"template {text!r} refers to output {output!r} of step {step!r}, "
                f"which that step does not declare (it declares: "
                f"{', '.join(sorted(earlier[step])) or 'none'})"
            )
    uses = sum(1 for name in tree.find_all(nodes.Name) if name.name == "steps")
    if uses > chains:
        yield f"template {text!r}: refer to an earlier output as steps.<step>.outputs.<name>"


def _path(node: nodes.Node) -> list[str]:
    """``steps.a.outputs.b`` (or with brackets) as its names, root first; [] otherwise."""
    names: list[str] = []
    while isinstance(node, (nodes.Getattr, nodes.Getitem)):
        if isinstance(node, nodes.Getattr):
            names.append(node.attr)
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            names.append(node.arg.value)
        else:
            return []
        node = node.node
    if not isinstance(node, nodes.Name):
        return []
    names.append(node.name)
    return names[::-1]


def render(
    text: str, *, inputs: Mapping[str, Any], outputs: Mapping[str, Mapping[str, Any]]
) -> str:
    """The template with the request's inputs and its earlier steps' outputs."""
    steps = {name: {"outputs": dict(values)} for name, values in outputs.items()}
    try:
        rendered = _ENVIRONMENT.from_string(text).render(inputs=dict(inputs), steps=steps)
    except TemplateError as error:
        raise TemplateFailure(f"template {text!r}: {error}") from None
    return rendered[:RENDERED_MAX]
