"""CPU time spent by processes, read from /proc (Linux), to report cost per unit of work.

    before = cpu.snapshot(pids)
    ...                                  # the work
    seconds = before.delta()             # CPU seconds those processes spent meanwhile

A process's CPU time is its user and system time (``utime + stime`` of
``/proc/<pid>/stat``, all its threads). ``delta`` may be given the pids again, read
anew: a pid that was not in the snapshot counts in full if it started after the
snapshot (a PostgreSQL backend that connected meanwhile), and not at all otherwise. A
process that ends before ``delta`` loses what it spent since the snapshot, so measure
long-lived processes (servers, workers, pooled backends).

``Meter`` measures named groups of processes at once, for example the web process, the
PostgreSQL backends of the benchmark's database and the load generator itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, int] | None:
    """(utime + stime, start time), in clock ticks; None if the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name is in parentheses and may hold spaces: split after it.
    fields = raw.rsplit(")", 1)[1].split()
    # Fields 14, 15 and 22 of proc(5); fields[0] here is field 3.
    return int(fields[11]) + int(fields[12]), int(fields[19])


def _uptime_ticks() -> int:
    return int(float(Path("/proc/uptime").read_text().split()[0]) * TICKS)


@dataclass(frozen=True)
class Snapshot:
    """CPU ticks of each process at one moment."""

    ticks: dict[int, int]
    taken_at: int  # clock ticks since boot

    def delta(self, pids: Iterable[int] | None = None) -> float:
        """CPU seconds spent since this snapshot by its processes (or by ``pids``)."""
        spent = 0
        for pid in self.ticks if pids is None else pids:
            now = _stat(pid)
            if now is None:
                continue
            if pid in self.ticks:
                spent += max(0, now[0] - self.ticks[pid])
            elif now[1] >= self.taken_at:
                spent += now[0]
        return spent / TICKS


def snapshot(pids: Iterable[int]) -> Snapshot:
    """The CPU time of each of these processes so far."""
    taken_at = _uptime_ticks()
    ticks = {}
    for pid in pids:
        now = _stat(pid)
        if now is not None:
            ticks[pid] = now[0]
    return Snapshot(ticks, taken_at)


Pids = Callable[[], Iterable[int]]


def fixed(*pids: int) -> Pids:
    return lambda: pids


def me() -> Pids:
    """The benchmark's own process: the load generator."""
    return fixed(os.getpid())


BENCH_APPLICATION = "servicebay-bench"
"""The application_name of the benchmark's own connections (``bench_connect_args``)."""


def bench_connect_args(database_url: str) -> dict[str, str]:
    """Engine connect_args that mark the benchmark's own PostgreSQL connections."""
    if database_url.startswith("postgresql"):
        return {"application_name": BENCH_APPLICATION}
    return {}


def postgres_backends(database_url: str, *, bench: bool = False) -> Pids:
    """The pids of the PostgreSQL backends connected to this URL's database, read anew
    at each call (the server must run on this machine): those of the processes under
    test, or with ``bench`` those of the benchmark's own connections."""
    url = make_url(database_url)
    admin = url.set(database="postgres").render_as_string(hide_password=False)
    name = url.database

    def pids() -> list[int]:
        engine = create_engine(admin, poolclass=NullPool)
        try:
            with engine.connect() as connection:
                rows = connection.execute(
                    text(
                        "SELECT pid FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid() "
                        "AND (application_name = :bench) = :mine"
                    ),
                    {"name": name, "bench": BENCH_APPLICATION, "mine": bench},
                )
                return [int(pid) for (pid,) in rows]
        finally:
            engine.dispose()

    return pids


@dataclass
class Cost:
    """CPU seconds per named group of processes over one measurement."""

    seconds: dict[str, float] = field(default_factory=dict)

    def ms_per(self, group: str, units: int) -> float:
        return self.seconds.get(group, 0.0) * 1000 / units if units else float("nan")

    def total(self, *groups: str) -> float:
        return sum(self.seconds.get(group, 0.0) for group in groups)


class Meter:
    """Named groups of processes whose CPU time is measured together."""

    def __init__(self, **groups: Pids) -> None:
        self.groups = groups

    @contextmanager
    def measure(self) -> Iterator[Cost]:
        """Yields a Cost that is filled in when the block ends."""
        cost = Cost()
        before = {name: snapshot(pids()) for name, pids in self.groups.items()}
        yield cost
        for name, pids in self.groups.items():
            cost.seconds[name] = before[name].delta(dict.fromkeys([*before[name].ticks, *pids()]))


def add(costs: Iterable[Cost]) -> Cost:
    total = Cost()
    for cost in costs:
        for name, seconds in cost.seconds.items():
            total.seconds[name] = total.seconds.get(name, 0.0) + seconds
    return total
