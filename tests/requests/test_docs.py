"""The receiver's verification example in docs/webhooks.md verifies real signatures."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from servicebay.core.signing import sign

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def documented_verify() -> Any:
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert code is not None
    namespace: dict[str, Any] = {}
    exec(compile(code.group(1), str(DOC), "exec"), namespace)
    return namespace["verify"]


def test_documented_verification_accepts_servicebay_signatures_and_refuses_tampering() -> None:
    verify = documented_verify()
    for secret in ("whsec_c2VydmljZWJheS10ZXN0LXNlY3JldA==", "plain-text-secret"):
        timestamp = int(time.time())
        body = b'{"type":"request.fulfil"}'
        headers = {
            "webhook-id": "4711",
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(
                secret=secret, message_id="4711", timestamp=timestamp, body=body
            ),
        }
        assert verify(secret, headers, body)
        assert not verify(secret, headers, body + b" ")
        assert not verify(secret, {**headers, "webhook-id": "4712"}, body)
        stale = {**headers, "webhook-timestamp": str(timestamp - 600)}
        assert not verify(secret, stale, body)
