"""The fulfilment dry run: a ``test`` event through the same kit as real deliveries.

The dry run builds a test context (run and request id 0, sample inputs built from the
form, ``event_type="test"``) and hands it to the same delivery function and the same
plugin runner that real attempts use; the Outcome they return becomes the result. So a
receiver is judged by one set of rules: what fails a real delivery (a timeout, an answer
too large, a redirect, a refusal) fails the dry run. A receiver that ignores ``test``
events is never asked to do work; a plugin's ``test`` method, when it has one, is called
instead of ``fulfil``.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from servicebay.catalog.fulfilment import plugins, webhook
from servicebay.catalog.fulfilment.context import TEST_EVENT, FulfilmentContext
from servicebay.catalog.fulfilment.outcome import Outcome
from servicebay.catalog.models import Offering, OfferingVersion
from servicebay.catalog.schemas import (
    STORED,
    FieldType,
    FulfilmentSpec,
    ManualFulfilment,
    PipelineFulfilment,
    PluginFulfilment,
    RequestForm,
)
from servicebay.core.outbound import OutboundPolicy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DryRunResult:
    passed: bool
    message: str


def run(
    offering: Offering,
    version: OfferingVersion,
    spec: FulfilmentSpec,
    *,
    outbound: OutboundPolicy,
) -> DryRunResult:
    """Try the version's fulfilment (``spec``, as ``catalog_service.fulfilment_of`` reads it);
    a pipeline step by step, stopping at the first step that fails."""
    if isinstance(spec, PipelineFulfilment):
        said: list[str] = []
        for position, step in enumerate(spec.steps, start=1):
            result = run(offering, version, step, outbound=outbound)
            said.append(f"step {position} ({step.name}): {result.message}")
            if not result.passed:
                return DryRunResult(False, "; ".join(said))
        return DryRunResult(True, "; ".join(said))
    if isinstance(spec, ManualFulfilment):
        return DryRunResult(
            True,
            f"manual fulfilment: each request becomes a task on {offering.owner_team.name}'s "
            "board"
            + (f" with a checklist of {len(spec.checklist)} item(s)" if spec.checklist else ""),
        )
    context = sample_context(offering, version, spec)
    if isinstance(spec, PluginFulfilment):
        outcome = _plugin(context)
        return DryRunResult(
            outcome.went_well, f"plugin {spec.plugin!r}: {outcome.message or outcome.kind}"
        )
    with webhook.Connections() as connections:
        outcome = webhook.deliver(context, spec, policy=outbound, connections=connections)
    log.info("dry run of %s: %s", offering.slug, outcome.kind)
    return DryRunResult(outcome.went_well, f"test event: {outcome.message}")


def sample_context(
    offering: Offering, version: OfferingVersion, spec: FulfilmentSpec
) -> FulfilmentContext:
    """A context like a real attempt's, for a request that does not exist."""
    return FulfilmentContext(
        run_id=0,
        attempt=1,
        request_id=0,
        offering_slug=offering.slug,
        offering_version=version.number,
        inputs=sample_inputs(RequestForm.model_validate(version.form, context=STORED)),
        requester={"username": "test", "email": "", "name": "Test"},
        spec=spec.model_dump(),
        secret=version.webhook_secret,
        callback_url="",
        callback_token="",
        event_type=TEST_EVENT,
        delivery_id=f"test_{uuid.uuid4().hex}",
    )


def _plugin(context: FulfilmentContext) -> Outcome:
    try:
        return plugins.run(context, dry=True)
    except Exception as error:  # a plugin's own failure is the dry run's result
        return Outcome.fatal(f"raised {type(error).__name__}: {error}")


def sample_inputs(form: RequestForm) -> dict[str, Any]:
    """Plausible inputs for a test event: defaults, first options, placeholders."""
    samples: dict[str, Any] = {}
    for form_field in form.fields:
        if form_field.default is not None:
            samples[form_field.name] = form_field.default
        elif form_field.type is FieldType.SELECT:
            samples[form_field.name] = form_field.options[0]
        elif form_field.type is FieldType.MULTISELECT:
            samples[form_field.name] = form_field.options[:1]
        elif form_field.type is FieldType.NUMBER:
            samples[form_field.name] = form_field.min if form_field.min is not None else 1
        elif form_field.type is FieldType.BOOLEAN:
            samples[form_field.name] = False
        else:
            samples[form_field.name] = form_field.placeholder or "test"
    return samples
