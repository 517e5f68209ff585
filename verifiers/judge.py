"""A model-based judge for what the rules cannot decide, and the cascade that combines the two.

The judge sees the extracted final answer and the reference (and, in formats that ask for it, the
question), never the reasoning: long reasoning is how judges get talked into a wrong verdict. Its
reply must match its format's decision line; any other reply is "could not judge" (None), never a
guess.

Formats (`FORMATS`): "strict" for a general instruct model (one line, `VERDICT: EQUIVALENT` or
`VERDICT: DIFFERENT`); "general_verifier" for a published answer-verifier model trained on
question / reference / student-answer prompts that end in `Final Decision: Yes|No` (TIGER-Lab's
general-verifier, 1.5B). The field headers and the decision line follow that model's published
format; the instruction wording is ours, so check a few verdicts against its model card before
trusting it at scale. `openai_generate` turns any OpenAI-compatible server (vLLM's included) into
the judge's generate function.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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

GENERAL_VERIFIER_PROMPT = """### Question: {question}

### Ground Truth Answer: {reference}

### Student Answer: {candidate}

Check whether the student's answer to the question above is equivalent to the ground truth answer.
Compare the two answers only; do not solve the question again.
If the student's answer is correct, output "Final Decision: Yes". If it is incorrect, output "Final Decision: No"."""


@dataclass(frozen=True)
class JudgeFormat:
    """A prompt and how to read its reply: `reply` finds the decision word, `yes` lists the words
    that mean "equivalent"; `last` reads the last decision line (a model that reasons first)."""

    prompt: str
    reply: re.Pattern
    yes: frozenset[str]
    last: bool = False


FORMATS = {
    "strict": JudgeFormat(PROMPT, _REPLY, frozenset({"EQUIVALENT"})),
    "general_verifier": JudgeFormat(
        GENERAL_VERIFIER_PROMPT,
        re.compile(r"Final Decision:\s*\**\s*(Yes|No)\b", re.IGNORECASE),
        frozenset({"YES"}),
        last=True,
    ),
}

Generate = Callable[[list[str]], Sequence[str]]


def openai_generate(
    base_url: str,
    model: str,
    max_tokens: int = 16,
    api_key: str = "EMPTY",
    timeout: float = 120.0,
) -> Generate:
    """A judge's generate function over an OpenAI-compatible server (vLLM, SGLang, a gateway).

    Greedy chat completions, one request per prompt; a failed request gives an empty reply, which
    the judge records as "could not judge".
    """
    from openai import OpenAI

    client = OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=2)

    def generate(prompts: list[str]) -> list[str]:
        out = []
        for p in prompts:
            try:
                r = client.chat.completions.create(
                    model=model,
                    messages=[{"role": "user", "content": p}],
                    temperature=0.0,
                    max_tokens=max_tokens,
                )
                out.append(r.choices[0].message.content or "")
            except Exception as e:  # noqa: BLE001 (a dead judge must not take the batch down)
                out.append(f"<request failed: {type(e).__name__}>")
        return out

    return generate


class Judge:
    """Equivalence by a model. `generate(prompts) -> texts` comes from any engine of the farm."""

    def __init__(
        self,
        generate: Generate,
        prompt: str | None = None,
        max_answer_chars: int = 500,
        format: str = "strict",  # noqa: A002 (the config key's name)
    ):
        if format not in FORMATS:
            raise ValueError(f"unknown judge format {format!r}; known: {sorted(FORMATS)}")
        self.format = FORMATS[format]
        self.prompt = prompt if prompt is not None else self.format.prompt
        if "{reference}" not in self.prompt or "{candidate}" not in self.prompt:
            raise ValueError("judge prompt must contain {reference} and {candidate}")
        self.generate = generate
        self.max_answer_chars = max_answer_chars

    def render(self, candidate: str, reference: str, question: str = "") -> str:
        n = self.max_answer_chars
        return self.prompt.format(
            reference=str(reference)[:n],
            candidate=str(candidate)[:n],
            question=str(question)[:2000],
        )

    def decision(self, reply: str) -> bool | None:
        found = list(self.format.reply.finditer(reply or ""))
        if not found or (not self.format.last and len(found) > 1):
            return None
        return found[-1].group(1).upper() in self.format.yes

    def judge(self, pairs: list[tuple[str, ...]]) -> list[Verdict]:
        """Verdicts for (candidate, reference) or (candidate, reference, question) tuples, in order."""
        if not pairs:
            return []
        replies = list(self.generate([self.render(*p) for p in pairs]))
        if len(replies) != len(pairs):
            raise RuntimeError(
                f"judge generate() returned {len(replies)} texts for {len(pairs)} prompts"
            )
        out = []
        for pair, reply in zip(pairs, replies, strict=True):
            cand = pair[0]
            ok = self.decision(reply)
            if ok is None:
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
                out.append(
                    Verdict(
                        ok,
                        cand,
                        f"judge decided: {'equivalent' if ok else 'different'}",
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
        return self.run(items)

    def run(self, items: list[dict[str, Any]], **kwargs) -> list[Verdict]:
        """Like `__call__`; `kwargs` (workers, timeout, progress, checker options) go to verify_batch."""
        from verifiers.answer import answer_region, final_answer
        from verifiers.pool import verify_batch

        if self.rules:
            verdicts = verify_batch(items, **{"workers": self.workers, **self.options, **kwargs})
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
        judged = self.judge.judge(
            [
                (verdicts[i].extracted, str(items[i]["answer"]), items[i].get("prompt") or "")
                for i in todo
            ]
        )
        for i, jv in zip(todo, judged, strict=True):
            jv.details["rules"] = {"verifier": verdicts[i].verifier, "reason": verdicts[i].reason}
            jv.verifier = f"cascade:{verdicts[i].verifier}+judge"
            verdicts[i] = jv
        return verdicts
