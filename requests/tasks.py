"""Manual fulfilment: tasks on the owner team's board, todo → doing → done, with WIP limits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from servicebay.catalog.models import Offering
from servicebay.core import clock, events, questions
from servicebay.core.identity import Role, Team, User
from servicebay.requests import lifecycle, policies
from servicebay.requests.errors import (
    InvalidInput,
    NotPermitted,
    RequestNotFound,
    TaskItemNotFound,
    TeamNotFound,
    TransitionNotAllowed,
    WipLimitInvalid,
    WipLimitReached,
)
from servicebay.requests.models import Request, RequestStatus, Task, TaskStatus, WipLimit

NEXT = {TaskStatus.TODO: TaskStatus.DOING, TaskStatus.DOING: TaskStatus.DONE}
COLUMNS = (TaskStatus.TODO, TaskStatus.DOING, TaskStatus.DONE)
WIP_COLUMNS = (TaskStatus.TODO, TaskStatus.DOING)


def create(session: Session, *, request: Request, checklist: list[str]) -> Task:
    """The card for a request whose offering is fulfilled by hand; todo has no WIP check
    (work arrives whether or not the team is ready), moving it does."""
    task = Task(
        request_id=request.id,
        team_id=request.offering.owner_team_id,
        status=TaskStatus.TODO.value,
        checklist=[{"item": item, "done": False} for item in checklist],
        notes="",
        created_at=clock.now(),
    )
    session.add(task)
    session.flush()
    events.record(
        session,
        type="task.created",
        actor_id=None,
        offering_id=request.offering_id,
        request_id=request.id,
        data={"task_id": task.id},
    )
    return task


# --- whose board -------------------------------------------------------------------


def workspace_teams(session: Session, *, viewer: User) -> list[Team]:
    """The teams whose workspace the viewer may open, teams that own offerings first:
    an admin's are every team that owns an offering, anyone else's their own teams."""
    owners = set(session.scalars(select(Offering.owner_team_id).distinct()))
    if viewer.is_admin:
        teams = list(session.scalars(select(Team).where(Team.id.in_(owners or {-1}))))
    else:
        teams = [membership.team for membership in viewer.memberships]
    return sorted(teams, key=lambda team: (team.id not in owners, team.name))


def has_workspace(session: Session, *, viewer: User) -> bool:
    """Whether the viewer has any team workspace to open (see workspace_teams): an admin
    when some team owns an offering, anyone else when they belong to a team. Asked on
    every page, so it reads no more than it must (nothing at all for most people)."""
    return questions.answer(session, has_workspace_question(viewer))


def has_workspace_question(viewer: User) -> questions.Question:
    """has_workspace, to be asked with other questions in one query."""
    if not viewer.is_admin:
        return bool(viewer.memberships)
    return questions.any_row(select(Offering.id))


def workspace_team(session: Session, *, viewer: User, slug: str) -> Team | None:
    """The workspace team named by ``slug``, or the viewer's first one (None: no team)."""
    teams = workspace_teams(session, viewer=viewer)
    return next((team for team in teams if team.slug == slug), teams[0] if teams else None)


def board_team(session: Session, *, viewer: User, slug: str) -> Team:
    """The team whose board the viewer may work on; any other is not found."""
    team = session.scalar(select(Team).where(Team.slug == slug))
    if team is None or not policies.can_work_on_board(viewer, team.id):
        raise TeamNotFound(f"no team {slug!r} of yours")
    return team


def team_of_board(session: Session, *, team_id: int) -> Team | None:
    return session.get(Team, team_id)


def is_lead_of(viewer: User, team: Team) -> bool:
    return viewer.is_admin or viewer.role_in(team.id) is Role.LEAD


# --- the board ----------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column of a board: its cards, its WIP limit, and whether it is at the limit."""

    status: str
    cards: list[Task]
    limit: int | None

    @property
    def at_limit(self) -> bool:
        return self.limit is not None and len(self.cards) >= self.limit


@dataclass(frozen=True)
class Board:
    team: Team
    columns: dict[str, Column]

    @property
    def limits(self) -> dict[str, int]:
        return {name: c.limit for name, c in self.columns.items() if c.limit is not None}


def board_view(
    session: Session, *, viewer: User, team: Team, done_shown: int | None = None
) -> Board:
    """The team's board with each column's limit; only the team's members see it.
    With ``done_shown`` the done column holds only that many, the newest first."""
    _require_member(viewer, team.id)
    limits = wip_limits(session, team_id=team.id)
    columns = board(session, team_id=team.id)
    if done_shown is not None:
        columns[TaskStatus.DONE.value] = columns[TaskStatus.DONE.value][-done_shown:][::-1]
    return Board(
        team=team,
        columns={
            name: Column(status=name, cards=cards, limit=limits.get(name))
            for name, cards in columns.items()
        },
    )


def parse_wip_limit(raw: str | int | None) -> int | None:
    """A WIP limit: a whole number above zero, or empty (None) for no limit."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    text = str(raw).strip()
    if not text.isdigit() or int(text) < 1:
        raise WipLimitInvalid("a WIP limit is a whole number above zero, or empty for none")
    return int(text)


def set_wip_limits(
    session: Session,
    *,
    actor: User,
    team_id: int,
    limits: Mapping[TaskStatus, str | int | None],
) -> dict[str, int]:
    """Set the limits of the todo and doing columns at once (each checked before any is
    saved); answers the team's limits afterwards."""
    parsed = {column: parse_wip_limit(limits.get(column)) for column in WIP_COLUMNS}
    for column, limit in parsed.items():
        set_wip_limit(session, actor=actor, team_id=team_id, status=column, max_tasks=limit)
    session.flush()
    return wip_limits(session, team_id=team_id)


def board(session: Session, *, team_id: int) -> dict[str, list[Task]]:
    statement = (
        select(Task)
        .join(Request, Request.id == Task.request_id)
        .where(Task.team_id == team_id, Request.status != RequestStatus.CANCELLED.value)
        .order_by(Task.created_at, Task.id)
    )
    columns: dict[str, list[Task]] = {column.value: [] for column in COLUMNS}
    for task in session.scalars(statement):
        columns[task.status].append(task)
    return columns


def wip_limits(session: Session, *, team_id: int) -> dict[str, int]:
    rows = session.scalars(select(WipLimit).where(WipLimit.team_id == team_id))
    return {row.status: row.max_tasks for row in rows}


def set_wip_limit(
    session: Session, *, actor: User, team_id: int, status: TaskStatus, max_tasks: int | None
) -> None:
    _require_member(actor, team_id)
    row = session.scalar(
        select(WipLimit).where(WipLimit.team_id == team_id, WipLimit.status == status.value)
    )
    if max_tasks is None:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(WipLimit(team_id=team_id, status=status.value, max_tasks=max_tasks))
    else:
        row.max_tasks = max_tasks
    events.record(
        session,
        type="board.wip_limit_set",
        actor_id=actor.id,
        data={"team_id": team_id, "column": status.value, "limit": max_tasks},
    )


def get_for_member(session: Session, *, task_id: int, actor: User) -> Task:
    task = session.get(Task, task_id)
    if task is None or not policies.can_work_on_board(actor, task.team_id):
        raise RequestNotFound(task_id)
    return task


def advance(
    session: Session,
    *,
    actor: User,
    task_id: int,
    override_wip: bool = False,
    outputs: dict[str, Any] | None = None,
    notes: str = "",
) -> Task:
    """Move a task one column on; finishing it completes the request with its outputs."""
    task = get_for_member(session, task_id=task_id, actor=actor)
    lifecycle.lock(session, task.request)
    session.refresh(task)
    current = TaskStatus(task.status)
    if current not in NEXT:
        raise TransitionNotAllowed("the task is already done")
    if task.request.status != RequestStatus.IN_FULFILMENT.value:
        raise TransitionNotAllowed(f"the request is {task.request.status}")
    target = NEXT[current]
    _check_wip(session, task=task, target=target, actor=actor, override=override_wip)
    now = clock.now()
    task.status = target.value
    if target is TaskStatus.DOING:
        task.started_at = now
        task.assignee_id = task.assignee_id or actor.id
    else:
        task.done_at = now
        task.notes = notes.strip()
    events.record(
        session,
        type=f"task.{target.value}",
        actor_id=actor.id,
        offering_id=task.request.offering_id,
        request_id=task.request_id,
        data={"task_id": task.id},
        at=now,
    )
    if target is TaskStatus.DONE:
        # The pipeline begins the next step through this module (tasks for manual steps).
        from servicebay.requests.fulfilment import pipeline

        task.outputs = {**(outputs or {}), **({"notes": task.notes} if task.notes else {})}
        pipeline.step_succeeded(
            session,
            request=task.request,
            position=task.step,
            outputs=task.outputs,
            actor_id=actor.id,
            task_id=task.id,
            manual=True,
        )
    return task


def _check_wip(
    session: Session, *, task: Task, target: TaskStatus, actor: User, override: bool
) -> None:
    if target is TaskStatus.DONE:
        return
    limit = wip_limits(session, team_id=task.team_id).get(target.value)
    if limit is None:
        return
    count = session.scalar(
        select(func.count(Task.id))
        .join(Request, Request.id == Task.request_id)
        .where(
            Task.team_id == task.team_id,
            Task.status == target.value,
            Request.status != RequestStatus.CANCELLED.value,
        )
    )
    if (count or 0) < limit:
        return
    if not override:
        raise WipLimitReached(
            f"{target.value} holds {count} of {limit} tasks; moving this one needs an override"
        )
    events.record(
        session,
        type="task.wip_override",
        actor_id=actor.id,
        offering_id=task.request.offering_id,
        request_id=task.request_id,
        data={"task_id": task.id, "column": target.value, "limit": limit, "count": count},
    )


def assign(session: Session, *, actor: User, task_id: int, assignee: User | None) -> Task:
    task = get_for_member(session, task_id=task_id, actor=actor)
    if assignee is not None and assignee.role_in(task.team_id) is None:
        raise InvalidInput(f"{assignee.username} is not in the owner team")
    task.assignee_id = assignee.id if assignee else None
    events.record(
        session,
        type="task.assigned",
        actor_id=actor.id,
        offering_id=task.request.offering_id,
        request_id=task.request_id,
        data={"task_id": task.id, "assignee": assignee.username if assignee else None},
    )
    return task


def assign_by_username(
    session: Session, *, actor: User, task_id: int, username: str | None
) -> Task:
    """Assign the task to the owner-team member with this username (None: nobody)."""
    assignee = None
    if username is not None:
        assignee = session.scalar(select(User).where(User.username == username))
        if assignee is None:
            raise InvalidInput(f"no user {username!r}")
    return assign(session, actor=actor, task_id=task_id, assignee=assignee)


def tick(session: Session, *, actor: User, task_id: int, index: int, done: bool) -> Task:
    task = get_for_member(session, task_id=task_id, actor=actor)
    if not 0 <= index < len(task.checklist):
        raise TaskItemNotFound(f"no checklist item {index}")
    checklist = [dict(item) for item in task.checklist]
    checklist[index]["done"] = done
    task.checklist = checklist
    return task


def _require_member(actor: User, team_id: int) -> None:
    if not policies.can_work_on_board(actor, team_id):
        raise NotPermitted("only the team's members change its board")
