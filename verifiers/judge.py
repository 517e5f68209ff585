"""A model-based judge for what the rules cannot decide, and the cascade that combines the two.

The judge sees only the extracted final answer and the reference, never the reasoning: long
reasoning is how judges get talked into a wrong verdict. It must answer in one strict line; any other
reply is "could not judge" (None), never a guess.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from verifiers.verdict import Verdict

NAME = "judge"
VERSION = "1.0"

PROMPT = """You compare a candidate answer with a reference answer to the same question.
Decide whether they are mathematically or semantically equivalent (same value, same set, same
meaning). Formatting differences do not matter. An approximation of an exact value, a hedge between
several answers, or an answer with extra or missing parts is NOT equivalent.

Reference answer: {reference}
Candidate answer: {candidate}

Reply with exactly one line and nothing else, either
VERDICT: EQUIVALENT
or
VERDICT: DIFFERENT"""

_REPLY = re.compile(r"^\s*VERDICT:\s*(EQUIVALENT|DIFFERENT)\s*$")

Generate = Callable[[list[str]], Sequence[str]]


class Judge:
    """Equivalence by a model. `generate(prompts) -> texts` comes from any engine of the farm."""

    def __init__(self, generate: Generate, prompt: str = PROMPT, max_answer_chars: int = 500):
        if "{reference}" not in prompt or "{candidate}" not in prompt:
            raise ValueError("judge prompt must contain {reference} and {candidate}")
        self.generate = generate
        self.prompt = prompt
        self.max_answer_chars = max_answer_chars

    def render(self, candidate: str, reference: str) -> str:
        n = self.max_answer_chars
        return self.prompt.format(reference=str(reference)[:n], candidate=str(candidate)[:n])

    def judge(self, pairs: list[tuple[str, str]]) -> list[Verdict]:
        """Verdicts for (candidate, reference) pairs, in order."""
        if not pairs:
            return []
        replies = list(self.generate([self.render(c, r) for c, r in pairs]))
        if len(replies) != len(pairs):
            raise RuntimeError(
                f"judge generate() returned {len(replies)} texts for {len(pairs)} prompts"
            )
        out = []
        for (cand, _ref), reply in zip(pairs, replies, strict=True):
            m = _REPLY.match(reply or "")
            if m is None:
                out.append(
                    Verdict(
                        None,
                        cand,
                        "judge reply not in the required format",
                        NAME,
                        VERSION,
                        {"reply": (reply or "")[:200]},
                    )
                )
            else:
                ok = m.group(1) == "EQUIVALENT"
                out.append(
                    Verdict(
                        ok,
                        cand,
                        f"judge decided: {m.group(1).lower()}",
                        NAME,
                        VERSION,
                        {"decided_by": "judge"},
                    )
                )
        return out


class Cascade:
    """Rules first; the judge only where the rules return None (and for kind "open").

    Items the rules could not judge because they timed out or had no gold stay None: a judge cannot
    fix a missing reference, and a timeout usually means a hostile answer.
    """

    def __init__(
        self, judge: Judge | None = None, rules: bool = True, workers: int | None = None, **options
    ):
        if not rules and judge is None:
            raise ValueError("Cascade needs the rules, a judge, or both")
        self.judge = judge
        self.rules = rules
        self.workers = workers
        self.options = options

    def __call__(self, items: list[dict[str, Any]]) -> list[Verdict]:
        from verifiers.answer import answer_region, final_answer
        from verifiers.pool import verify_batch

        if self.rules:
            verdicts = verify_batch(items, workers=self.workers, **self.options)
        else:
            verdicts = []
            for it in items:
                region, why = answer_region(it.get("completion"), it.get("finish_reason") or "stop")
                phrase, how = final_answer(region) if region is not None else (None, why)
                verdicts.append(Verdict(None if phrase else False, phrase, how, "extract", "1.0"))
        if self.judge is None:
            return verdicts
        todo = [
            i
            for i, v in enumerate(verdicts)
            if v.correct is None
            and v.extracted
            and items[i].get("answer") is not None
            and v.reason not in ("timeout", "no gold answer")
        ]
        judged = self.judge.judge([(verdicts[i].extracted, str(items[i]["answer"])) for i in todo])
        for i, jv in zip(todo, judged, strict=True):
            jv.details["rules"] = {"verifier": verdicts[i].verifier, "reason": verdicts[i].reason}
            jv.verifier = f"cascade:{verdicts[i].verifier}+judge"
            verdicts[i] = jv
        return verdicts
