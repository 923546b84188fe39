"""The threat model in docs/security.md names tests that exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_every_test_the_threat_model_names_exists() -> None:
    text = (ROOT / "docs" / "security.md").read_text()
    table = text.split("## Threat model", 1)[1]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "::" in line]
    assert len(rows) >= 15
    missing = []
    for row in rows:
        module = ""
        for reference in re.findall(r"`([\w/]*\.py)?::(test_\w+)`", row):
            module = reference[0] or module
            source = (ROOT / "tests" / module).read_text()
            if not re.search(rf"^def {reference[1]}\(", source, re.M):
                missing.append(f"{module}::{reference[1]}")
    assert missing == []
