"""What one attempt (or one dry run) came to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to."""

    kind: str  # "succeeded" | "accepted" | "retry" | "fatal"
    message: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def succeeded(cls, outputs: dict[str, Any] | None = None, message: str = "") -> Outcome:
        return cls("succeeded", message, outputs or {})

    @classmethod
    def accepted(cls, message: str = "") -> Outcome:
        return cls("accepted", message)

    @classmethod
    def failed(cls, message: str, *, retryable: bool = False) -> Outcome:
        """A failure: permanent (dead at once) unless ``retryable``."""
        return cls("retry" if retryable else "fatal", message)

    @classmethod
    def retry(cls, message: str) -> Outcome:
        return cls("retry", message)

    @classmethod
    def fatal(cls, message: str) -> Outcome:
        return cls("fatal", message)

    @property
    def went_well(self) -> bool:
        """Done, or taken on by the receiver: what a dry run counts as passed."""
        return self.kind in ("succeeded", "accepted")
