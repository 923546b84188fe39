"""Packaging: nothing shadows the `requests` library, and the wheel stands on its own."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.servers import free_port, serve_process

ROOT = Path(__file__).resolve().parent.parent


def test_import_requests_from_repository_root_gives_the_http_library() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import requests; print(requests.__file__); requests.get"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    location = Path(result.stdout.strip())
    assert "site-packages" in location.parts
    assert not location.is_relative_to(ROOT / "requests")


def test_servicebay_requests_is_the_context() -> None:
    from servicebay.requests import lifecycle

    assert Path(lifecycle.__file__).resolve() == ROOT / "requests" / "lifecycle.py"


@pytest.mark.slow
def test_wheel_holds_only_servicebay_and_serves_the_portal(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
    )
    wheel = next(dist.glob("servicebay-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names}
    assert {t for t in top_level if not t.endswith(".dist-info")} == {"servicebay"}
    for shipped in (
        "servicebay/templates/layout.html",
        "servicebay/portal/static/vendor/htmx.min.js",
        "servicebay/portal/static/vendor/chart.umd.min.js",
        "servicebay/portal/static/vendor/swagger-ui/swagger-ui-bundle.js",
        "servicebay/portal/static/vendor/swagger-ui/swagger-ui.css",
        "servicebay/portal/static/vendor/swagger-ui/LICENSE",
        "servicebay/portal/static/js/api-docs.js",
        "servicebay/portal/static/css/servicebay.css",
        "servicebay/alembic/env.py",
        "servicebay/core/py.typed",
    ):
        assert shipped in names
    assert any(n.startswith("servicebay/alembic/versions/") for n in names)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True)
    # Borrow the already-installed dependencies instead of downloading them again.
    site = Path(
        subprocess.check_output(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            text=True,
        ).strip()
    )
    (site / "borrowed-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "SERVICEBAY_DATA_DIR": str(work / "data")}
    env.pop("SERVICEBAY_DATABASE_URL", None)
    where = subprocess.check_output(
        [str(python), "-c", "import servicebay.portal.app as a; print(a.__file__)"],
        cwd=work,
        env=env,
        text=True,
    )
    assert Path(where.strip()).is_relative_to(site)
    subprocess.run(
        [str(venv / "bin" / "servicebay"), "db", "upgrade"], cwd=work, env=env, check=True
    )
    port = free_port()
    command = [str(venv / "bin" / "servicebay"), "serve", "--port", str(port)]
    with serve_process(command, port=port, env=env, cwd=work) as base:
        home = httpx.get(base + "/", follow_redirects=True)
        assert home.status_code == 200
        assert "Sign in" in home.text
        assert httpx.get(base + "/static/vendor/htmx.min.js").status_code == 200
        assert httpx.get(base + "/docs").status_code == 200
        assert httpx.get(base + "/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200


def _checkout_without_front_end(into: Path) -> Path:
    """The repository's files as a fresh clone has them: no node_modules, no copied assets."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / name)
    assert not (into / "portal" / "static" / "vendor").exists()
    return into


@pytest.mark.slow
def test_wheel_build_without_the_npm_step_stops_and_says_what_to_run(tmp_path: Path) -> None:
    checkout = _checkout_without_front_end(tmp_path / "checkout")
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-w",
            str(tmp_path / "dist"),
            str(checkout),
        ],
        capture_output=True,
        text=True,
    )
    assert build.returncode != 0
    assert "run scripts/setup first (npm ci)" in build.stdout + build.stderr
    assert "htmx.min.js" in build.stdout + build.stderr
    assert not list((tmp_path / "dist").glob("*.whl"))
