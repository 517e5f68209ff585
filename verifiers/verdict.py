"""The Verdict every checker returns: one shape for rejection sampling, pair building and evaluation."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Verdict:
    """What a checker decided about one completion.

    `correct` is None when the checker could not judge (unparseable gold, timeout, judge gave no
    verdict). Callers count those separately; they are never silently wrong.
    """

    correct: bool | None
    extracted: str | None = None
    reason: str = ""
    verifier: str = ""
    version: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Verdict:
        return cls(**d)
