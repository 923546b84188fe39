"""The readiness scorecard: what must hold before a version may be published."""

from __future__ import annotations

from servicebay.catalog.models import Offering, OfferingVersion
from servicebay.catalog.schemas import Readiness, ReadinessCheck, pattern_problem


def assess(offering: Offering, version: OfferingVersion) -> Readiness:
    details = version.details
    checks = [
        ReadinessCheck(
            name="owner_and_contact",
            label="Owner team and contact",
            passed=bool(offering.owner_team_id and str(details.get("contact", "")).strip()),
            hint="name a contact (a person, channel or address)",
        ),
        ReadinessCheck(
            name="description",
            label="Description",
            passed=bool(str(details.get("description", "")).strip()),
            hint="describe what the consumer gets",
        ),
        ReadinessCheck(
            name="form",
            label="Request form",
            passed=bool(version.form.get("fields")) or version.no_input_needed,
            hint='add at least one field, or tick "no input needed"',
        ),
        ReadinessCheck(
            name="sle",
            label="Service-level expectation",
            passed=version.sle_percent is not None and version.sle_hours is not None,
            hint="set a service-level expectation, e.g. 85 % within 48 h",
        ),
        ReadinessCheck(
            name="runbook",
            label="Support or runbook link",
            passed=bool(str(details.get("runbook_url", "")).strip()),
            hint="link the runbook or support page",
        ),
        ReadinessCheck(
            name="dry_run",
            label="Successful test fulfilment",
            passed=version.dry_run_status == "passed",
            hint=(
                f"the last test failed: {version.dry_run_message}"
                if version.dry_run_status == "failed"
                else 'run "Test fulfilment" on this version'
            ),
        ),
    ]
    patterns = {
        str(f.get("name")): problem
        for f in version.form.get("fields", [])
        if f.get("pattern") and (problem := pattern_problem(str(f["pattern"]))) is not None
    }
    if patterns:
        # Only for versions saved before a rule on patterns was added: saving checks them.
        checks.append(
            ReadinessCheck(
                name="patterns",
                label="Form patterns the server can check",
                passed=False,
                hint="; ".join(f"{name}: {problem}" for name, problem in patterns.items()),
            )
        )
    return Readiness(
        version=version.number, ready=all(check.passed for check in checks), checks=checks
    )
