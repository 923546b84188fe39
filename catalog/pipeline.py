"""A fulfilment as an ordered list of steps. A single fulfilment (webhook, plugin or
manual) is a pipeline of one step named ``fulfil``: one mechanism runs both."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import TypeAdapter

from servicebay.catalog import conditions
from servicebay.catalog.schemas import (
    FulfilmentSpec,
    ManualStep,
    PipelineFulfilment,
    PipelineStep,
)
from servicebay.catalog.templates import render

_STEP: TypeAdapter[PipelineStep] = TypeAdapter(PipelineStep)


def as_pipeline(spec: FulfilmentSpec) -> PipelineFulfilment:
    """The spec as a pipeline; a single fulfilment becomes its only step."""
    if isinstance(spec, PipelineFulfilment):
        return spec
    step = _STEP.validate_python(spec.model_dump())
    return PipelineFulfilment(steps=[step])


def applies(step: PipelineStep, inputs: Mapping[str, Any]) -> bool:
    """Whether the step runs for these inputs (a step without a condition always does)."""
    return not step.when or conditions.check(step.when, dict(inputs))


def next_step(pipeline: PipelineFulfilment, *, after: int, inputs: Mapping[str, Any]) -> int | None:
    """The position of the first step after ``after`` (-1: from the start) whose condition
    holds; None when no step is left."""
    for position in range(after + 1, len(pipeline.steps)):
        if applies(pipeline.steps[position], inputs):
            return position
    return None


def rendered_params(
    step: PipelineStep,
    *,
    inputs: Mapping[str, Any],
    outputs: Mapping[str, Mapping[str, Any]],
) -> dict[str, str]:
    """The step's params with the inputs and earlier outputs filled in."""
    return {
        name: render(text, inputs=inputs, outputs=outputs) for name, text in step.params.items()
    }


def rendered_checklist(
    step: ManualStep,
    *,
    inputs: Mapping[str, Any],
    outputs: Mapping[str, Mapping[str, Any]],
) -> list[str]:
    return [render(item, inputs=inputs, outputs=outputs) for item in step.checklist]
