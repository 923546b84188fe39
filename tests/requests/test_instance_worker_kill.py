"""A `servicebay worker` killed in the middle of an operation's webhook: the operation
completes exactly once and changes the instance once (PostgreSQL, real processes)."""

from __future__ import annotations

import os
import signal
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from servicebay.core.events import Event
from servicebay.core.identity import Role
from servicebay.requests import service, tasks
from servicebay.requests.models import Instance, Request
from tests.factories import make_offering, make_team, make_user
from tests.receiver import Receiver
from tests.requests.support import SECRET, attempts_of, runs_of
from tests.requests.test_worker_processes import HangingFirstDelivery, start_worker, wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]
SIZE = {"name": "size", "label": "Size", "type": "select", "options": ["small", "large"]}


def test_worker_killed_mid_operation_completes_it_exactly_once(
    db: Session, sessions: sessionmaker[Session], database_url: str, tmp_path: Path
) -> None:
    policy = HangingFirstDelivery()
    long_lease = {"SERVICEBAY_RUN_LEASE_SECONDS": "60"}
    with Receiver(secret=SECRET, replies=[policy, policy]) as hook:
        ops = make_team(db)
        lead = make_user(db, team=ops, role=Role.LEAD)
        resize = {
            "name": "resize",
            "form": {"fields": [SIZE]},
            "fulfilment": {"kind": "webhook", "url": hook.url, "timeout_seconds": 120},
        }
        offering = make_offering(
            db,
            ops,
            lead,
            fulfilment={"kind": "manual"},
            webhook_secret=SECRET,
            instances={"name_field": "name", "operations": [resize]},
        )
        owner = make_user(db, team=make_team(db))
        made = service.submit(
            db, actor=owner, offering_slug=offering.slug, inputs={"name": "ledger", "size": "small"}
        )
        db.flush()
        (task,) = tasks.board(db, team_id=ops.id)["todo"]
        tasks.advance(db, actor=lead, task_id=task.id)
        tasks.advance(db, actor=lead, task_id=task.id)
        assert made.instance_id is not None
        instance_id = made.instance_id
        operation = service.run_operation(
            db, actor=owner, instance_id=instance_id, operation="resize", inputs={"size": "large"}
        )
        db.commit()
        db.close()

        first = start_worker(database_url, tmp_path, concurrency=2, **long_lease)
        successor = None
        try:
            assert policy.in_call.wait(30), first.output()
            successor = start_worker(database_url, tmp_path, concurrency=2, **long_lease)
            successor.wait_for_output("listening for new runs", timeout=30)
            os.kill(first.pid, signal.SIGKILL)
            first.process.wait(timeout=10)

            def completed() -> bool:
                with sessions() as session:
                    return session.get_one(Request, operation.id).status == "completed"

            wait_until(completed, timeout=30, what="the operation completes")
        finally:
            policy.release.set()
            first.stop()
            if successor is not None:
                successor.stop()

    with sessions() as session:
        instance = session.get_one(Instance, instance_id)
        assert (instance.state, instance.spec["size"], instance.busy_request_id) == (
            "active",
            "large",
            None,
        )
        told = Counter(
            session.scalars(
                select(Event.type).where(Event.instance_id == instance_id, Event.type.like("%.%"))
            )
        )
        assert told["instance.updating"] == 1
        assert told["instance.active"] == 2  # once made, once after the resize
        assert told["request.completed"] == 2  # the request that made it, and the resize
        (run,) = runs_of(session, operation.id)
        orphaned, restarted = attempts_of(session, run.id)
        assert (orphaned.status, restarted.status) == ("lease_expired", "succeeded")
    assert sum(policy.seen.values()) == 2  # the killed call, and its one repeat
