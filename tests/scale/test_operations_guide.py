"""The operations guide keeps up with the code."""

from __future__ import annotations

from pathlib import Path

from servicebay.core.settings import Settings

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def test_every_setting_is_in_the_settings_table_of_the_operations_guide() -> None:
    guide = GUIDE.read_text()
    missing = [
        f"SERVICEBAY_{name.upper()}"
        for name in Settings.model_fields
        if f"| `SERVICEBAY_{name.upper()}` |" not in guide
    ]
    assert missing == []
