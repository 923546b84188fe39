"""Build hook: a wheel never ships a portal without its front-end libraries.

The libraries come from the npm registry (``package.json``, ``npm ci``) and are served
from ``portal/static/vendor``. ``VENDOR_FILES`` is the one list of them: ``scripts/setup``
copies them with ``python setup.py vendor``, and every wheel build copies them from
``node_modules`` when it is there, then refuses to go on if one is missing.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
NODE_MODULES = ROOT / "node_modules"
VENDOR = ROOT / "portal" / "static" / "vendor"
# Where each file lands under portal/static/vendor, and where npm puts it.
VENDOR_FILES = {
    "htmx.min.js": "htmx.org/dist/htmx.min.js",
    "chart.umd.min.js": "chart.js/dist/chart.umd.min.js",
    "swagger-ui/swagger-ui-bundle.js": "swagger-ui-dist/swagger-ui-bundle.js",
    "swagger-ui/swagger-ui.css": "swagger-ui-dist/swagger-ui.css",
    "swagger-ui/LICENSE": "swagger-ui-dist/LICENSE",
    "swagger-ui/NOTICE": "swagger-ui-dist/NOTICE",
}


def copy_vendor_files() -> None:
    """Copy each file npm installed into the static folder, over any earlier copy."""
    for target, source in VENDOR_FILES.items():
        installed = NODE_MODULES / source
        if installed.is_file():
            (VENDOR / target).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(installed, VENDOR / target)


def missing_vendor_files() -> list[str]:
    return [target for target in VENDOR_FILES if not (VENDOR / target).is_file()]


def main() -> None:
    # setuptools only for a build: `setup.py vendor` runs on a Python without it.
    from setuptools import setup
    from setuptools.command.build_py import build_py

    class BuildWithFrontEnd(build_py):
        def run(self) -> None:
            if not self.editable_mode:
                copy_vendor_files()
                missing = missing_vendor_files()
                if missing:
                    raise SystemExit(
                        "servicebay: the portal's front-end files are missing from "
                        f"portal/static/vendor ({', '.join(missing)}); "
                        "run scripts/setup first (npm ci), then build again"
                    )
            super().run()

    setup(cmdclass={"build_py": BuildWithFrontEnd})


if __name__ == "__main__" and sys.argv[1:] == ["vendor"]:
    copy_vendor_files()
    if missing := missing_vendor_files():
        sys.exit(f"not installed by npm: {', '.join(missing)}; run npm ci first")
else:
    main()
