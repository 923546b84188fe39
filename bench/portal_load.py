"""Portal pages at catalog scale: home, search, an offering page and the notifications
page against a static file.

20 clients load each page in turn from one `servicebay serve` web process on the
generated PostgreSQL database; the baseline is a static file served by that same
process, measured in the same run. Each figure is the median of ``runs`` runs; the CPU
cost per answer (web process, PostgreSQL backends of the database, and the load
generator apart) is the CPU time of all runs of a page over their answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from bench import cpu, load, processes
from servicebay.core import identity
from servicebay.core.database import make_engine, make_sessionmaker, transaction
from servicebay.core.identity import User
from servicebay.portal.security import SESSION_COOKIE

PAGES = {
    "static file (baseline)": ["/static/favicon.svg"],
    "portal home": ["/"],
    "search": ["/?q=database", "/?q=certificate+renew", "/?q=vpn", "/?q=kafka+topic"],
    "offering page": [f"/offerings/svc-{n:05d}" for n in (0, 1, 2, 3, 5, 8, 13, 42, 420, 999)],
    "notifications": ["/notifications"],
}


@dataclass
class PageFigures:
    name: str
    throughput: float
    p95_ms: float
    errors: int
    share_of_baseline: float
    web_ms: float  # CPU ms per answer of the web process
    postgres_ms: float  # CPU ms per answer of the database's PostgreSQL backends
    client_ms: float  # CPU ms per answer of the load generator
    web_cost_vs_baseline: float  # web_ms over the static file's web_ms


def signed_in(database_url: str, count: int) -> list[dict[str, str]]:
    """A sign-in cookie for each client: pages know people only by their session."""
    engine = make_engine(database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            users = session.scalars(select(User).order_by(User.id).limit(count)).all()
            keys = [identity.start_session(session, user=user) for user in users]
    finally:
        engine.dispose()
    return [{"Cookie": f"{SESSION_COOKIE}={key}"} for key in keys]


def measure(
    database_url: str, data_dir: Path, *, runs: int, seconds: float, clients: int = 20
) -> tuple[list[PageFigures], float]:
    """Figures per page, and the web process's peak RSS in MB."""
    headers = signed_in(database_url, clients)
    samples: dict[str, list[load.Load]] = {name: [] for name in PAGES}
    costs: dict[str, list[cpu.Cost]] = {name: [] for name in PAGES}
    with processes.web(database_url, data_dir) as server:
        meter = cpu.Meter(
            web=cpu.fixed(server.pid),
            postgres=cpu.postgres_backends(database_url),
            client=cpu.me(),
        )
        for paths in PAGES.values():  # warm-up: caches, connection pool
            load.run(
                server.url, lambda n, p=paths: load.get(p, headers[n]), clients=clients, seconds=1
            )
        for _ in range(runs):
            for name, paths in PAGES.items():
                with meter.measure() as cost:
                    samples[name].append(
                        load.run(
                            server.url,
                            lambda n, p=paths: load.get(p, headers[n]),
                            clients=clients,
                            seconds=seconds,
                        )
                    )
                costs[name].append(cost)
        peak = processes.peak_rss_mb(server.pid)
    baseline_name = "static file (baseline)"
    baseline = load.median([s.throughput for s in samples[baseline_name]])
    answers = {name: sum(len(s.latencies) for s in loads) for name, loads in samples.items()}
    spent = {name: cpu.add(parts) for name, parts in costs.items()}
    baseline_web_ms = spent[baseline_name].ms_per("web", answers[baseline_name])
    figures = []
    for name, loads in samples.items():
        throughput = load.median([s.throughput for s in loads])
        web_ms = spent[name].ms_per("web", answers[name])
        figures.append(
            PageFigures(
                name=name,
                throughput=throughput,
                p95_ms=load.median([s.p95_ms for s in loads]),
                errors=sum(s.errors for s in loads),
                share_of_baseline=throughput / baseline,
                web_ms=web_ms,
                postgres_ms=spent[name].ms_per("postgres", answers[name]),
                client_ms=spent[name].ms_per("client", answers[name]),
                web_cost_vs_baseline=web_ms / baseline_web_ms,
            )
        )
    return figures, peak
