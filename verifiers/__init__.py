"""Answer checking as a library: rule-based math, multiple choice, sandboxed code, a model judge.

    from verifiers import verify, verify_batch
    verify(r"... so the answer is \\boxed{\\frac12}", "0.5").correct          # True
    verify_batch([{"completion": c, "answer": a, "kind": "math"} for c, a in rows], workers=2)

This package imports no other project code (the rollout farm and the trainers import it).
"""

from __future__ import annotations

from verifiers.judge import Cascade, Judge
from verifiers.pool import verify_batch
from verifiers.registry import VERIFIERS, fast_check
from verifiers.verdict import Verdict

__all__ = ["VERIFIERS", "Cascade", "Judge", "Verdict", "verify", "verify_batch"]


def verify(
    completion: str, answer, kind: str = "math", finish_reason: str | None = "stop", **options
) -> Verdict:
    """Check one completion against its gold answer. Safe from any thread; never hangs.

    Simple answers are decided in the calling thread; anything that needs SymPy or runs code goes
    to the shared worker pool, under the same per-item time limit as `verify_batch`.
    """
    if kind not in VERIFIERS:
        raise ValueError(f"unknown verifier kind {kind!r}; known kinds: {sorted(VERIFIERS)}")
    item = {
        "completion": completion,
        "answer": answer,
        "kind": kind,
        "finish_reason": finish_reason,
    }
    timeout = options.pop("timeout", None)
    v = fast_check(item, options)
    if v is not None:
        return v
    return verify_batch([item], workers=1, timeout=timeout, **options)[0]
