"""A three-step webhook pipeline beside one-step runs, on PostgreSQL, same receiver.

Both offerings are in the same database and called by the same workers (the default
`servicebay worker --concurrency 4`). Rounds alternate: a round of one-step requests,
then a round of three-step requests, ``runs`` times, so that both meet the same load on
a shared machine. A round is timed from its commit until every one of its requests is
completed; requests/s is requests completed per second, steps/s the step runs that
succeeded meanwhile per second (three per pipeline request, one per one-step request).

CPU per step and per request: the worker processes, their PostgreSQL backends and the
receiver over each offering's timed rounds, from /proc; the benchmark's own process and
backends (which submit the rounds and count what completed) apart. The bare-post
baseline is measured in the same run, as in the fulfilment benchmark.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bench import cpu, fulfilment, load, processes
from servicebay.core.database import make_engine, make_sessionmaker, transaction
from servicebay.core.identity import User
from servicebay.requests import service
from servicebay.requests.models import FulfilmentRun, Request, RequestStatus, RunStatus

ONE_STEP = "one step"
THREE_STEPS = "three steps"


@dataclass
class OfferingFigures:
    name: str
    steps_per_request: int
    requests: int  # completed in the timed rounds
    steps: int  # step runs that succeeded in the timed rounds
    seconds: float  # the timed rounds' total
    requests_per_second: float  # median of the rounds
    steps_per_second: float  # median of the rounds
    busy: float  # share of the machine's CPU time in use during the rounds
    cost: cpu.Cost  # "workers", "postgres", "receiver", "bench", "bench_postgres"

    def all_seconds(self) -> float:
        return self.cost.total("workers", "postgres", "receiver")


@dataclass
class PipelineFigures:
    workers: int
    concurrency: int
    requests_per_round: int
    runs: int
    baseline_per_second: float
    baseline_posts: int
    baseline_cost: cpu.Cost  # "receiver", "client"
    offerings: list[OfferingFigures]
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]


def measure(
    database_url: str,
    data_dir: Path,
    *,
    runs: int,
    seconds: float,
    requests_per_round: int,
    workers: int = 1,
    concurrency: int = fulfilment.DEFAULT_CONCURRENCY,
) -> PipelineFigures:
    load_before = _load_average()
    with processes.receiver() as hook:
        hook_url = f"{hook.url}/hook"
        one_step, user_id = fulfilment.arrange(database_url, hook_url)
        slugs = {ONE_STEP: one_step, THREE_STEPS: fulfilment.PIPELINE_SLUG}
        engine = make_engine(database_url, connect_args=cpu.bench_connect_args(database_url))
        sessions = make_sessionmaker(engine)
        bare = cpu.Meter(receiver=cpu.fixed(hook.pid), client=cpu.me())
        with bare.measure() as baseline_cost:
            posts = [fulfilment.bare_client_posts(hook_url, seconds) for _ in range(runs)]
        took: dict[str, list[float]] = {name: [] for name in slugs}
        done: dict[str, list[tuple[int, int]]] = {name: [] for name in slugs}
        costs: dict[str, list[cpu.Cost]] = {name: [] for name in slugs}
        busy: dict[str, list[float]] = {name: [] for name in slugs}
        with processes.workers(database_url, data_dir, workers, concurrency) as pids:
            fulfilment._wait(
                lambda: fulfilment.connected_workers(sessions) == workers, "the workers connect"
            )
            for slug in slugs.values():  # warm-up
                round_of_requests(sessions, slug, user_id, min(50, requests_per_round))
            meter = cpu.Meter(
                workers=cpu.fixed(*pids),
                postgres=cpu.postgres_backends(database_url),
                receiver=cpu.fixed(hook.pid),
                bench=cpu.me(),
                bench_postgres=cpu.postgres_backends(database_url, bench=True),
            )
            for _ in range(runs):
                for name, slug in slugs.items():
                    before = load.cpu_times()
                    with meter.measure() as cost:
                        seconds_taken, requests, steps = round_of_requests(
                            sessions, slug, user_id, requests_per_round
                        )
                    busy[name].append(load.busy_share(before, load.cpu_times()))
                    took[name].append(seconds_taken)
                    done[name].append((requests, steps))
                    costs[name].append(cost)
        fulfilment._wait(lambda: fulfilment.connected_workers(sessions) == 0, "workers leave")
        engine.dispose()
    figures = []
    for name in slugs:
        requests = sum(count for count, _ in done[name])
        steps = sum(count for _, count in done[name])
        figures.append(
            OfferingFigures(
                name=name,
                steps_per_request=fulfilment.PIPELINE_STEPS if name == THREE_STEPS else 1,
                requests=requests,
                steps=steps,
                seconds=sum(took[name]),
                requests_per_second=load.median(
                    [
                        count / spent
                        for (count, _), spent in zip(done[name], took[name], strict=True)
                    ]
                ),
                steps_per_second=load.median(
                    [
                        count / spent
                        for (_, count), spent in zip(done[name], took[name], strict=True)
                    ]
                ),
                busy=load.median(busy[name]),
                cost=cpu.add(costs[name]),
            )
        )
    return PipelineFigures(
        workers=workers,
        concurrency=concurrency,
        requests_per_round=requests_per_round,
        runs=runs,
        baseline_per_second=load.median([count / seconds for count in posts]),
        baseline_posts=sum(posts),
        baseline_cost=baseline_cost,
        offerings=figures,
        load_before=load_before,
        load_after=_load_average(),
    )


def round_of_requests(
    sessions: sessionmaker[Session], slug: str, user_id: int, count: int
) -> tuple[float, int, int]:
    """Submit ``count`` requests in one commit; (seconds until every one is completed,
    requests completed, step runs that succeeded meanwhile)."""
    with sessions() as session:
        completed, steps = _completed(session), _steps(session)
    with transaction(sessions) as session:
        who = session.get_one(User, user_id)
        for _ in range(count):
            service.submit(session, actor=who, offering_slug=slug, inputs=fulfilment.INPUTS)
    started = time.perf_counter()
    while True:
        with sessions() as session:
            now = _completed(session)
            if now >= completed + count:
                spent = time.perf_counter() - started
                return spent, now - completed, _steps(session) - steps
        if time.perf_counter() - started > 600:
            raise RuntimeError(f"{slug}: {now - completed} of {count} requests completed")
        time.sleep(0.02)


def _completed(session: Session) -> int:
    return (
        session.scalar(
            select(func.count(Request.id)).where(Request.status == RequestStatus.COMPLETED)
        )
        or 0
    )


def _steps(session: Session) -> int:
    return (
        session.scalar(
            select(func.count(FulfilmentRun.id)).where(FulfilmentRun.status == RunStatus.SUCCEEDED)
        )
        or 0
    )


def _load_average() -> tuple[float, float, float]:
    one, five, fifteen = (float(part) for part in Path("/proc/loadavg").read_text().split()[:3])
    return one, five, fifteen
