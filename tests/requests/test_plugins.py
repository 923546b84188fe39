"""Plugin fulfilment: entry points, settings, and outcomes judged like a webhook's."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from servicebay.catalog.models import Offering
from servicebay.core.settings import Settings
from servicebay.requests.fulfilment.worker import Worker
from servicebay.requests.models import Request
from tests.requests.support import (
    fast,
    log_of,
    owner_and_offering,
    requester,
    runs_of,
    status_of,
    submit,
    work_until,
)


def test_echo_plugin_gets_the_inputs_and_settings_and_completes_the_request(
    db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    spec = {"kind": "plugin", "plugin": "echo", "settings": {"message": "Provisioned."}}
    _, _, offering = owner_and_offering(db, fulfilment=spec)
    request_id = submit(db, requester(db), offering)
    work_until(
        Worker(sessions, fast(settings)), lambda: status_of(sessions, request_id) == "completed"
    )
    outputs = db.get_one(Request, request_id).outputs
    assert outputs == {"message": "Provisioned.", "echo_name": "ledger", "echo_size": "small"}


def test_a_plugin_that_is_not_installed_fails_the_request_at_once_saying_so(
    db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    # The catalog refuses an unknown plugin when the offering is saved; this is the
    # plugin being uninstalled afterwards.
    offering = _published_then_changed(db, {"kind": "plugin", "plugin": "nowhere"})
    request_id = submit(db, requester(db), offering)
    work_until(
        Worker(sessions, fast(settings)), lambda: status_of(sessions, request_id) == "failed"
    )
    run = runs_of(db, request_id)[0]
    assert run.attempt == 1
    assert any("no fulfilment plugin named 'nowhere'" in line for line in log_of(db, run.id))


def test_invalid_plugin_settings_fail_the_request_at_once_naming_the_setting(
    db: Session, sessions: sessionmaker[Session], settings: Settings
) -> None:
    spec = {"kind": "plugin", "plugin": "echo", "settings": {"colour": "blue"}}
    offering = _published_then_changed(db, spec)  # e.g. the plugin's settings model changed
    request_id = submit(db, requester(db), offering)
    work_until(
        Worker(sessions, fast(settings)), lambda: status_of(sessions, request_id) == "failed"
    )
    run = runs_of(db, request_id)[0]
    assert run.attempt == 1
    assert "plugin settings are invalid: colour" in (run.last_error or "")


def _published_then_changed(db: Session, fulfilment: dict[str, Any]) -> Offering:
    """An echo offering whose stored fulfilment spec no longer fits the installed plugins."""
    _, _, offering = owner_and_offering(db, fulfilment={"kind": "plugin", "plugin": "echo"})
    assert offering.current_version is not None
    offering.current_version.fulfilment = fulfilment
    db.commit()
    return offering
