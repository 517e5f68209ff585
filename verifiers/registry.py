"""The rule-based checkers by kind: one plain dict, and the one function that dispatches on it."""

from __future__ import annotations

from typing import Any

from verifiers import choice, mathrules, sandbox
from verifiers.answer import answer_region, final_answer
from verifiers.verdict import Verdict


def check_open(completion: str, answer, finish_reason: str | None = "stop") -> Verdict:
    """Open-ended answers have no rule: extract the final answer and leave the call to a judge."""
    region, why = answer_region(completion, finish_reason)
    if region is None:
        return Verdict(False, None, why, "open", "1.0")
    phrase, how = final_answer(region)
    if phrase is None:
        return Verdict(False, None, how, "open", "1.0")
    return Verdict(None, phrase, "open-ended: needs the model-based judge", "open", "1.0")


VERIFIERS = {
    "math": mathrules.check,
    "choice": choice.check,
    "code": sandbox.check,
    "open": check_open,
}

# Per-item wall-clock limits (seconds) used by verify_batch when none is given: code runs tests.
DEFAULT_TIMEOUT = {"math": 5.0, "choice": 2.0, "code": 20.0, "open": 2.0}


def check_item(item: dict[str, Any], options: dict[str, Any] | None = None) -> Verdict:
    """Run the checker for one item dict (completion, answer, kind, finish_reason)."""
    kind = item.get("kind", "math")
    fn = VERIFIERS.get(kind)
    if fn is None:
        raise ValueError(f"unknown verifier kind {kind!r}; known kinds: {sorted(VERIFIERS)}")
    opts = dict(options or {})
    opts.pop("timeout", None)
    try:
        return fn(
            item.get("completion") or "",
            item.get("answer"),
            item.get("finish_reason") or "stop",
            **opts,
        )
    except TypeError as e:
        if "unexpected keyword" in str(e):
            raise ValueError(
                f"verifier {kind!r} does not take option(s) {sorted(opts)}: {e}"
            ) from e
        raise


def fast_check(item: dict[str, Any], options: dict[str, Any] | None = None) -> Verdict | None:
    """The verdict when it needs neither SymPy nor a subprocess (safe in any thread), else None."""
    kind = item.get("kind", "math")
    if kind == "math" and not options:
        return mathrules.check(
            item.get("completion") or "",
            item.get("answer"),
            item.get("finish_reason") or "stop",
            fast_only=True,
        )
    if kind in ("choice", "open"):
        return check_item(item, options)
    return None
