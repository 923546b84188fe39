"""Run every benchmark and print a Markdown report (see BENCHMARKS.md).

    .venv/bin/python -m bench.run              # full scale
    .venv/bin/python -m bench.run --quick      # small data, short runs: a quick check

Needs PostgreSQL at SERVICEBAY_TEST_POSTGRES_URL (default postgres@127.0.0.1:5432, as
for the tests); makes and drops its own databases. Every figure is the median of
--runs runs, each beside a baseline measured in the same run on the same machine.
Benchmarks are not tests: nothing here fails on a slow figure; the report says which
targets were met.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import click
from sqlalchemy import create_engine, text

from bench import fulfilment, generate, pipeline, portal_load, processes, sqlite_submit

PORTAL_DATABASE = "servicebay_bench_portal"
PARTS = ("portal", "fulfilment", "pipeline", "sqlite")
FULFILMENT_DATABASE = "servicebay_bench_fulfilment"
PIPELINE_DATABASE = "servicebay_bench_pipeline"


@click.command()
@click.option("--quick", is_flag=True, help="Small data set and short runs.")
@click.option("--runs", default=3, show_default=True, help="Runs per figure (median).")
@click.option("--seconds", type=float, default=None, help="Length of each timed run.")
@click.option("--requests", "request_count", type=int, default=None, help="Generated requests.")
@click.option(
    "--requests-per-round",
    type=int,
    default=None,
    help="Requests submitted per timed round (pipeline part).",
)
@click.option("--reuse-data", is_flag=True, help="Keep and reuse the generated database.")
@click.option("--output", type=click.Path(path_type=Path), default=None, help="Also write here.")
@click.option(
    "--only",
    type=click.Choice(PARTS),
    multiple=True,
    help="Run only this part (repeatable); every part by default.",
)
def main(
    quick: bool,
    runs: int,
    seconds: float | None,
    request_count: int | None,
    requests_per_round: int | None,
    reuse_data: bool,
    output: Path | None,
    only: tuple[str, ...],
) -> None:
    parts = set(only or PARTS)
    scale = generate.Scale.quick() if quick else generate.Scale()
    if request_count is not None:
        scale = generate.Scale(scale.offerings, scale.teams, scale.users, request_count)
    seconds = seconds or (3.0 if quick else 10.0)
    lines = [f"## Run of {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", "", *machine(), ""]
    lines += [
        f"Command: `{' '.join([Path(sys.executable).name, '-m', 'bench.run', *sys.argv[1:]])}`",
        "",
    ]
    lines += [f"Medians of {runs} runs of {seconds:g} s each.", ""]
    with tempfile.TemporaryDirectory(prefix="servicebay-bench-") as folder:
        data_dir = Path(folder)
        if "portal" in parts:
            started = time.monotonic()
            portal_url = _portal_database(scale, reuse_data)
            lines += [
                f"Data: {scale.offerings:,} offerings, {scale.teams:,} teams, "
                f"{scale.users:,} users, {scale.requests:,} requests with their events "
                f"(generated in {time.monotonic() - started:.0f} s).",
                "",
            ]
            click.echo("portal pages ...", err=True)
            pages, web_peak = portal_load.measure(portal_url, data_dir, runs=runs, seconds=seconds)
            if not reuse_data:
                processes.drop_postgres(PORTAL_DATABASE)
            lines += portal_report(pages, web_peak)
        if "fulfilment" in parts:
            click.echo("fulfilment ...", err=True)
            with processes.scratch_postgres(FULFILMENT_DATABASE) as url:
                flow = fulfilment.measure(
                    url,
                    data_dir,
                    runs=runs,
                    seconds=seconds,
                    runs_per_round=200 if quick else 300,
                    latency_samples=30 if quick else 100,
                )
            lines += fulfilment_report(flow)
        if "pipeline" in parts:
            click.echo("pipeline ...", err=True)
            with processes.scratch_postgres(PIPELINE_DATABASE) as url:
                steps = pipeline.measure(
                    url,
                    data_dir,
                    runs=runs,
                    seconds=seconds,
                    requests_per_round=requests_per_round or (200 if quick else 300),
                )
            lines += pipeline_report(steps)
        if "sqlite" in parts:
            click.echo("sqlite submissions ...", err=True)
            embedded = sqlite_submit.measure(data_dir / "sqlite", runs=runs, seconds=seconds)
            lines += sqlite_report(embedded)
    text_out = "\n".join(lines) + "\n"
    click.echo(text_out)
    if output is not None:
        output.write_text(text_out)


def _portal_database(scale: generate.Scale, reuse: bool) -> str:
    url = processes.ADMIN_URL.rsplit("/", 1)[0] + f"/{PORTAL_DATABASE}"
    if reuse and _offerings(url) == scale.offerings:
        return url
    processes.create_postgres(PORTAL_DATABASE)
    generate.generate(url, scale)
    return url


def _offerings(url: str) -> int | None:
    try:
        engine = create_engine(url)
        with engine.connect() as connection:
            return int(connection.scalar(text("SELECT count(*) FROM catalog_offering")) or 0)
    except Exception:
        return None
    finally:
        engine.dispose()


def machine() -> list[str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = next(
        int(line.split()[1]) // 1024 // 1024
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    server = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    return [
        f"Machine: {cpu}, {os.cpu_count()} cores, {memory} GB RAM; {platform.platform()}; "
        f"Python {platform.python_version()}; {server} on the same machine.",
    ]


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def portal_report(pages: list[portal_load.PageFigures], web_peak: float) -> list[str]:
    lines = [
        "### Portal pages, 20 concurrent clients, one web process, PostgreSQL",
        "",
        "CPU ms per answer: CPU time (user + system, from /proc) of the web process and of "
        "the PostgreSQL backends connected to the database over the answers given; the load "
        "generator's own CPU apart.",
        "",
        "| page | answers/s | p95 ms | errors | share of the static file | target ≥ 50 % "
        "| web CPU ms/answer | vs the static file | target ≤ 2.5 x "
        "| PostgreSQL CPU ms/answer | load generator CPU ms/answer |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- | ---: | ---: |",
    ]
    for page in pages:
        baseline = page.name.startswith("static")
        lines.append(
            f"| {page.name} | {page.throughput:.0f} | {page.p95_ms:.1f} | {page.errors} | "
            f"{page.share_of_baseline:.0%} | "
            f"{'baseline' if baseline else _met(page.share_of_baseline >= 0.5)} | "
            f"{page.web_ms:.2f} | {page.web_cost_vs_baseline:.1f} x | "
            f"{'baseline' if baseline else _met(page.web_cost_vs_baseline <= 2.5)} | "
            f"{page.postgres_ms:.2f} | {page.client_ms:.2f} |"
        )
    return [
        *lines,
        "",
        f"- peak RSS (VmHWM) of the web process after the portal load: {web_peak:.0f} MB "
        f"(target ≤ 200 MB: {_met(web_peak <= 200)})",
        "",
    ]


def fulfilment_report(flow: fulfilment.FulfilmentFigures) -> list[str]:
    rates = flow.runs_per_second
    bare_client = flow.baseline_cost.ms_per("client", flow.baseline_posts)
    bare_receiver = flow.baseline_cost.ms_per("receiver", flow.baseline_posts)
    bare_all = bare_client + bare_receiver
    concurrencies = sorted({concurrency for concurrency, _ in rates})
    lines = [
        "### Fulfilment, PostgreSQL, local webhook receiver",
        "",
        f"Each round: {flow.runs_per_round} runs submitted in one commit, timed until all "
        f"succeeded. Baseline: a bare httpx client with {fulfilment.BASELINE_THREADS} threads "
        "posting to the same receiver. CPU busy: the share of the machine's CPU time in use "
        "during the timed rounds (workers, PostgreSQL, receiver and benchmark together).",
        "",
        "CPU ms per run (user + system, from /proc, over the timed rounds): the worker "
        "processes, the PostgreSQL backends of their connections, the receiver, and all "
        "three together; for the baseline, per post: the receiver, and the bare client in "
        'the "workers" column (it does what the workers do: post). "vs bare post": all '
        "together over the bare post's receiver and client. The benchmark's own process "
        "and backends (submitting each round in one commit and counting what succeeded) "
        "are reported apart.",
        "",
        "| worker processes | threads each | runs/s | vs bare client | vs 1 worker | CPU busy "
        "| workers ms/run | PostgreSQL ms/run | receiver ms/run | all ms/run | vs bare post "
        "| benchmark ms/run | benchmark's PostgreSQL ms/run |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: |",
        f"| bare HTTP client (baseline) | | {flow.baseline_per_second:.0f} | 100 % | | | "
        f"{bare_client:.3f} | | {bare_receiver:.3f} | {bare_all:.3f} | 1.0 x | | |",
    ]
    verdicts = []
    for concurrency in concurrencies:
        one = rates[concurrency, 1]
        for count in fulfilment.WORKER_COUNTS:
            rate = rates[concurrency, count]
            cost, done = flow.cost[concurrency, count], flow.runs_per_round * flow.runs
            every = cost.total("workers", "postgres", "receiver") * 1000 / done
            lines.append(
                f"| {count} | {concurrency} | {rate:.0f} | "
                f"{rate / flow.baseline_per_second:.0%} | {rate / one:.2f} x | "
                f"{flow.busy[concurrency, count]:.0%} | "
                f"{cost.ms_per('workers', done):.2f} | {cost.ms_per('postgres', done):.2f} | "
                f"{cost.ms_per('receiver', done):.2f} | {every:.2f} | "
                f"{every / bare_all:.1f} x | {cost.ms_per('bench', done):.2f} | "
                f"{cost.ms_per('bench_postgres', done):.2f} |"
            )
        share = rates[concurrency, 4] / flow.baseline_per_second
        speedup = rates[concurrency, 4] / one
        verdicts += [
            f"- {concurrency} thread(s) per worker: 4 workers ≥ 50 % of the bare client: "
            f"{share:.0%}, {_met(share >= 0.5)}; 4 workers ≥ 2.5 x one: {speedup:.2f} x, "
            f"{_met(speedup >= 2.5)}",
        ]
    return [
        *lines,
        "",
        *verdicts,
        f"- submission (API) to webhook received, one at a time, {flow.latency_samples} "
        f"per run, 1 worker: p50 {flow.latency_p50_ms:.0f} ms, "
        f"p95 {flow.latency_p95_ms:.0f} ms "
        f"(target p95 < 100 ms: {_met(flow.latency_p95_ms < 100)})",
        f"- peak RSS (VmHWM) of a worker process after the rounds: "
        f"{flow.worker_peak_rss_mb:.0f} MB (target ≤ 150 MB: "
        f"{_met(flow.worker_peak_rss_mb <= 150)})",
        "",
    ]


def pipeline_report(figures: pipeline.PipelineFigures) -> list[str]:
    bare = figures.baseline_cost.total("client", "receiver") * 1000 / figures.baseline_posts
    one = figures.offerings[0]
    one_step_ms = one.all_seconds() * 1000 / one.steps
    one_request_ms = one.all_seconds() * 1000 / one.requests
    lines = [
        "### A three-step webhook pipeline beside one-step runs, PostgreSQL, local receiver",
        "",
        f"{figures.workers} worker process(es), {figures.concurrency} threads each. Each round: "
        f"{figures.requests_per_round} requests submitted in one commit, timed until all "
        f"were completed; one-step and three-step rounds alternate, {figures.runs} of each. "
        "Requests/s: requests completed per second; steps/s: step runs that succeeded per "
        "second (medians of the rounds). CPU ms (user + system, from /proc, over all the "
        "offering's rounds): the worker processes, their PostgreSQL backends, the receiver, "
        "and all three together, per step and per request. Load average (1, 5, 15 min) "
        f"before: {', '.join(f'{n:.1f}' for n in figures.load_before)}; after: "
        f"{', '.join(f'{n:.1f}' for n in figures.load_after)}.",
        "",
        "| offering | steps/request | requests/s | steps/s | requests/s vs one step | CPU busy "
        "| workers ms/step | PostgreSQL ms/step | receiver ms/step | all ms/step "
        "| all ms/step vs one step | all ms/request | all ms/request vs one step "
        "| benchmark ms/request | benchmark's PostgreSQL ms/request |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: | ---: |",
        f"| bare HTTP client (baseline, per post) | | | {figures.baseline_per_second:.0f} | | "
        f"| {figures.baseline_cost.ms_per('client', figures.baseline_posts):.3f} | | "
        f"{figures.baseline_cost.ms_per('receiver', figures.baseline_posts):.3f} | "
        f"{bare:.3f} | | | | | |",
    ]
    for offering in figures.offerings:
        every = offering.all_seconds() * 1000
        lines.append(
            f"| {offering.name} | {offering.steps / offering.requests:.2f} | "
            f"{offering.requests_per_second:.1f} | {offering.steps_per_second:.1f} | "
            f"{offering.requests_per_second / one.requests_per_second:.2f} x | "
            f"{offering.busy:.0%} | "
            f"{offering.cost.ms_per('workers', offering.steps):.2f} | "
            f"{offering.cost.ms_per('postgres', offering.steps):.2f} | "
            f"{offering.cost.ms_per('receiver', offering.steps):.2f} | "
            f"{every / offering.steps:.2f} | {every / offering.steps / one_step_ms:.2f} x | "
            f"{every / offering.requests:.2f} | "
            f"{every / offering.requests / one_request_ms:.2f} x | "
            f"{offering.cost.ms_per('bench', offering.requests):.2f} | "
            f"{offering.cost.ms_per('bench_postgres', offering.requests):.2f} |"
        )
    return [*lines, ""]


def sqlite_report(embedded: sqlite_submit.SqliteFigures) -> list[str]:
    return [
        "### SQLite default, one `servicebay serve` with its in-process worker",
        "",
        f"- {embedded.clients} concurrent submitting clients: {embedded.throughput:.0f} "
        f"submissions/s, p95 {embedded.p95_ms:.0f} ms, {embedded.errors} errors in "
        f"{embedded.submissions:,} submissions (target 0: {_met(embedded.errors == 0)})",
        f"- CPU per accepted submission (from /proc, over all runs): web process with its "
        f"in-process worker {embedded.web_ms:.2f} ms; the load generator "
        f"{embedded.client_ms:.2f} ms",
        f"- peak RSS (VmHWM) of that web process with its in-process worker: "
        f"{embedded.web_peak_rss_mb:.0f} MB "
        f"(target ≤ 200 MB: {_met(embedded.web_peak_rss_mb <= 200)})",
        "",
    ]


if __name__ == "__main__":
    main()
