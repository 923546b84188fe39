"""Portal pages at catalog scale: home, search and an offering page against a static file.

20 clients load each page in turn from one `servicebay serve` web process on the
generated PostgreSQL database; the baseline is a static file served by that same
process, measured in the same run. Each figure is the median of ``runs`` runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from bench import load, processes
from servicebay.core import identity
from servicebay.core.database import make_engine, make_sessionmaker, transaction
from servicebay.core.identity import User
from servicebay.portal.security import SESSION_COOKIE

PAGES = {
    "static file (baseline)": ["/static/favicon.svg"],
    "portal home": ["/"],
    "search": ["/?q=database", "/?q=certificate+renew", "/?q=vpn", "/?q=kafka+topic"],
    "offering page": [f"/offerings/svc-{n:05d}" for n in (0, 1, 2, 3, 5, 8, 13, 42, 420, 999)],
}


@dataclass
class PageFigures:
    name: str
    throughput: float
    p95_ms: float
    errors: int
    share_of_baseline: float


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
    with processes.web(database_url, data_dir) as server:
        for paths in PAGES.values():  # warm-up: caches, connection pool
            load.run(
                server.url, lambda n, p=paths: load.get(p, headers[n]), clients=clients, seconds=1
            )
        for _ in range(runs):
            for name, paths in PAGES.items():
                samples[name].append(
                    load.run(
                        server.url,
                        lambda n, p=paths: load.get(p, headers[n]),
                        clients=clients,
                        seconds=seconds,
                    )
                )
        peak = processes.peak_rss_mb(server.pid)
    baseline = load.median([s.throughput for s in samples["static file (baseline)"]])
    figures = []
    for name, loads in samples.items():
        throughput = load.median([s.throughput for s in loads])
        figures.append(
            PageFigures(
                name=name,
                throughput=throughput,
                p95_ms=load.median([s.p95_ms for s in loads]),
                errors=sum(s.errors for s in loads),
                share_of_baseline=throughput / baseline,
            )
        )
    return figures, peak
