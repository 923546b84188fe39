"""A closed-loop load generator: N clients on keep-alive connections, each sending its
next request when the previous answer has arrived."""

from __future__ import annotations

import http.client
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit


@dataclass
class Load:
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds

    @property
    def p95_ms(self) -> float:
        return percentile(self.latencies, 95) * 1000


def percentile(values: Sequence[float], rank: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(-(-rank * len(ordered) // 100)) - 1))]


Call = Callable[[http.client.HTTPConnection, int], int]


def get(paths: Sequence[str], headers: dict[str, str]) -> Call:
    """A call that GETs the paths in turn and returns the status."""

    def call(connection: http.client.HTTPConnection, number: int) -> int:
        connection.request("GET", paths[number % len(paths)], headers=headers)
        answer = connection.getresponse()
        answer.read()
        return answer.status

    return call


def run(
    base_url: str,
    call_of_client: Callable[[int], Call],
    *,
    clients: int,
    seconds: float,
    ok: Callable[[int], bool] = lambda status: status == 200,
) -> Load:
    """Every client calls as fast as it is answered for ``seconds``."""
    parts = urlsplit(base_url)
    load = Load(seconds=seconds)
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)
    deadline = [0.0]

    def client(number: int) -> None:
        call = call_of_client(number)
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
        mine: list[float] = []
        errors = 0
        start.wait()
        sent = 0
        while time.perf_counter() < deadline[0]:
            began = time.perf_counter()
            try:
                status = call(connection, number * 1_000_003 + sent)
            except (OSError, http.client.HTTPException):
                status = 0
                connection.close()
                connection = http.client.HTTPConnection(parts.hostname or "", parts.port)
            sent += 1
            if ok(status):
                mine.append(time.perf_counter() - began)
            else:
                errors += 1
        connection.close()
        with lock:
            load.latencies.extend(mine)
            load.errors += errors

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    deadline[0] = time.perf_counter() + seconds
    start.wait()
    for thread in threads:
        thread.join()
    return load


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def cpu_times() -> tuple[int, int]:
    """The machine's (all, idle) CPU time so far, in clock ticks (Linux)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields), fields[3] + fields[4]  # idle and waiting for I/O


def busy_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """The share of the machine's CPU time in use between two readings of cpu_times()."""
    spent, idle = after[0] - before[0], after[1] - before[1]
    return 1 - idle / spent if spent else 0.0
