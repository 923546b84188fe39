"""The explicit list of model modules holds every table, and loading it imports no face."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

from servicebay.core.database import Base
from servicebay.core.modules import MODEL_MODULES

CONTEXTS = ("core", "catalog", "requests", "analytics", "portal")


def _import_every_module() -> None:
    for context in CONTEXTS:
        package = importlib.import_module(f"servicebay.{context}")
        for module in pkgutil.walk_packages(package.__path__, prefix=f"servicebay.{context}."):
            importlib.import_module(module.name)


def test_the_model_modules_are_exactly_those_that_define_tables() -> None:
    _import_every_module()
    defined_in = {
        mapper.local_table.name: mapper.class_.__module__ for mapper in Base.registry.mappers
    }

    missing = {table: module for table, module in defined_in.items() if module not in MODEL_MODULES}

    assert missing == {}
    assert sorted(set(defined_in.values())) == sorted(MODEL_MODULES)  # none listed in vain
    assert set(defined_in) == set(Base.metadata.tables)


def test_loading_the_models_imports_no_face() -> None:
    script = (
        "import sys\n"
        "from servicebay.core.modules import import_models\n"
        "import_models()\n"
        "print(sorted(m for m in sys.modules if m.startswith('servicebay.portal')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
