"""Where the package's non-Python files live, in a checkout and in an installed wheel."""

from __future__ import annotations

from pathlib import Path

# resolve(): in a development install the modules are links into the checkout,
# so new templates, assets and migrations are seen without reinstalling.
PACKAGE_ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = PACKAGE_ROOT / "templates"
STATIC_DIR = PACKAGE_ROOT / "portal" / "static"
MIGRATIONS_DIR = PACKAGE_ROOT / "alembic"
