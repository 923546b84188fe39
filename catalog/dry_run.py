"""The fulfilment dry run: a ``test`` event sent to an offering's webhook or plugin.

Webhooks receive a Standard Webhooks-signed envelope of type ``test`` (with sample
inputs built from the form) through the same outbound checks as real deliveries, so a
receiver that ignores ``test`` events is never asked to do work. A plugin is loaded
from the ``servicebay.fulfilment`` entry points, its settings validated by its own
model, and its ``test`` method called when it has one, else ``fulfil`` with a test
context (its ``event_type`` is ``test``).
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from servicebay.catalog.fulfilment import (
    FulfilmentContext,
    PluginMissing,
    load_plugin,
    settings_problem,
)
from servicebay.catalog.models import Offering, OfferingVersion
from servicebay.catalog.schemas import STORED, FieldType, RequestForm
from servicebay.core import clock
from servicebay.core.outbound import OutboundPolicy, OutboundRefused
from servicebay.core.signing import sign

USER_AGENT = "servicebay-webhooks/1"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DryRunResult:
    passed: bool
    message: str


def run(offering: Offering, version: OfferingVersion, *, outbound: OutboundPolicy) -> DryRunResult:
    spec = version.fulfilment
    kind = spec.get("kind")
    if kind == "webhook":
        return _webhook(offering, version, outbound=outbound)
    if kind == "plugin":
        return _plugin(offering, version)
    checklist = spec.get("checklist") or []
    return DryRunResult(
        True,
        f"manual fulfilment: each request becomes a task on {offering.owner_team.name}'s board"
        + (f" with a checklist of {len(checklist)} item(s)" if checklist else ""),
    )


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


def _envelope(offering: Offering, version: OfferingVersion, timestamp: int) -> dict[str, Any]:
    return {
        "type": "test",
        "timestamp": timestamp,
        "data": {
            "offering": offering.slug,
            "offering_version": version.number,
            "inputs": sample_inputs(RequestForm.model_validate(version.form, context=STORED)),
        },
    }


def _webhook(
    offering: Offering, version: OfferingVersion, *, outbound: OutboundPolicy
) -> DryRunResult:
    url = str(version.fulfilment["url"])
    timeout = float(version.fulfilment.get("timeout_seconds", 10.0))
    try:
        address = outbound.resolve(url)
    except OutboundRefused as refused:
        return DryRunResult(False, f"refused to call {url}: {refused}")
    timestamp = int(clock.now().timestamp())
    message_id = f"test_{uuid.uuid4().hex}"
    body = json.dumps(_envelope(offering, version, timestamp), separators=(",", ":")).encode()
    target = httpx.URL(url)
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "host": target.netloc.decode(),
    }
    if version.webhook_secret:
        headers["webhook-signature"] = sign(
            secret=version.webhook_secret, message_id=message_id, timestamp=timestamp, body=body
        )
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            response = client.post(
                target.copy_with(host=str(address)),
                content=body,
                headers=headers,
                extensions={"sni_hostname": target.host},
            )
    except httpx.TimeoutException:
        return DryRunResult(False, f"no answer from {url} within {timeout:g} s")
    except httpx.HTTPError as error:
        return DryRunResult(False, f"could not reach {url}: {type(error).__name__}")
    log.info("dry run of %s answered %s", offering.slug, response.status_code)
    if 200 <= response.status_code < 300:
        return DryRunResult(True, f"{url} answered {response.status_code} to the test event")
    excerpt = response.text[:200]
    return DryRunResult(False, f"{url} answered {response.status_code}: {excerpt}")


def check_plugin(name: str, settings: dict[str, Any]) -> str | None:
    """None when the plugin is installed and accepts the settings; else why not."""
    try:
        plugin = load_plugin(name)
    except PluginMissing as missing:
        return str(missing)
    return settings_problem(plugin, settings)


def _plugin(offering: Offering, version: OfferingVersion) -> DryRunResult:
    name = str(version.fulfilment.get("plugin", ""))
    problem = check_plugin(name, version.fulfilment.get("settings", {}))
    if problem:
        return DryRunResult(False, problem)
    plugin = load_plugin(name)
    settings = plugin.Settings.model_validate(version.fulfilment.get("settings", {}))
    context = FulfilmentContext(
        run_id=0,
        attempt=1,
        request_id=0,
        offering_slug=offering.slug,
        offering_version=version.number,
        inputs=sample_inputs(RequestForm.model_validate(version.form, context=STORED)),
        requester={"username": "test"},
        spec=dict(version.fulfilment),
        secret=None,
        callback_url="",
        callback_token="",
        event_type="test",
    )
    try:
        handler = getattr(plugin, "test", None) or plugin.fulfil
        outcome = handler(context, settings)
    except Exception as error:  # a plugin's own failure is the dry run's result
        return DryRunResult(False, f"plugin {name!r} raised {type(error).__name__}: {error}")
    kind = getattr(outcome, "kind", None)
    message = str(getattr(outcome, "message", ""))
    if kind in ("succeeded", "accepted"):
        return DryRunResult(True, f"plugin {name!r}: {message or kind}")
    return DryRunResult(False, f"plugin {name!r} answered {kind}: {message}")
