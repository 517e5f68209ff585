"""Multiple-choice checking (GPQA style): the final declared letter, hedges are wrong."""

from __future__ import annotations

import re

from verifiers.answer import answer_region, boxed_spans, is_refusal
from verifiers.verdict import Verdict

NAME = "choice"
VERSION = "1.0"

_LETTER = r"\(?\s*([A-Za-z])\s*\)?"
_END = r"(?=\s*(?:[).:,;!*\]}]|\*\*|$|\n|\s+(?:is|because|since|as)\b))"
_DECLARED = [
    # "Answer: C", "**Answer: (C)**", "the answer is C", "the correct option is C", "final answer: c"
    re.compile(
        r"(?:final\s+answer|answer|correct\s+(?:option|choice)|the\s+(?:option|choice))\s*(?:is\s*:?|:|=)?\s*"
        r"(?:option\s+|choice\s+)?\**\s*" + _LETTER + _END,
        re.IGNORECASE,
    ),
    # "I'll go with (C)", "I choose B"
    re.compile(
        r"\b(?:go(?:ing)?\s+with|choose|pick|select|opt\s+for)\s+(?:option\s+|choice\s+)?"
        + _LETTER
        + _END,
        re.IGNORECASE,
    ),
    # "Option C is correct", "(C) is the correct answer"
    re.compile(
        r"(?:option\s+|choice\s+)?" + _LETTER + r"\s+is\s+(?:the\s+)?correct", re.IGNORECASE
    ),
]
_HEDGE = re.compile(
    r"(?:answer\s*(?:is|:)?\s*|^)\**\s*\(?([A-Za-z])\)?\s*(?:or|and|/|,)\s*(?:option\s+)?\(?([A-Za-z])\)?"
    + _END,
    re.IGNORECASE,
)
_LONE = re.compile(r"^\s*(?:\*\*)?\s*\(?([A-Z])\)?\s*[.)]?\s*(?:\*\*)?\s*$")


def declared_letter(region: str, letters: str) -> tuple[str | None, str]:
    """The last letter the text declares as its answer, or (None, why)."""
    found: list[tuple[int, str]] = []
    boxes = boxed_spans(region)
    for a, b in zip(boxes, boxes[1:], strict=False):
        # "\boxed{A} or \boxed{C}": two boxes side by side are a hedge.
        if (
            re.fullmatch(r"[\s$]*(?:or|and|,|/)[\s$]*", region[a[1] : b[0]], re.IGNORECASE)
            and a[2].strip() != b[2].strip()
        ):
            found.append((b[0] + 1, "HEDGE"))
    for start, _end, content in boxes:
        inner = re.sub(r"\\text\{([^}]*)\}", r"\1", content).strip(" ()")
        if len(inner) == 1 and inner.upper() in letters:
            found.append((start, inner.upper()))
        elif re.search(r"\b[A-Za-z]\b\s*(?:or|and|,|/)\s*\b[A-Za-z]\b", inner):
            found.append((start, "HEDGE"))
    for pat in _DECLARED:
        for m in pat.finditer(region):
            letter = m.group(1)
            # Lower case only counts right after an explicit "answer" ("answer: c"), never the article "a".
            if letter.islower() and not re.search(
                r"answer\s*(?:is|:)\s*\**\s*\(?$", region[m.start() : m.start(1)], re.IGNORECASE
            ):
                continue
            if letter.upper() in letters:
                found.append((m.start(1), letter.upper()))
    for m in _HEDGE.finditer(region):
        a, b = m.group(1).upper(), m.group(2).upper()
        if (
            a in letters
            and b in letters
            and a != b
            and (m.group(1).isupper() or "answer" in m.group(0).lower())
        ):
            found.append((m.start(1), "HEDGE"))
    lines = [ln for ln in region.strip().splitlines() if ln.strip()]
    if lines:
        m = _LONE.match(lines[-1])
        if m and m.group(1) in letters:
            found.append((len(region), m.group(1)))
    if not found:
        return None, "refusal" if is_refusal(region) else "no declared letter"
    found.sort(key=lambda t: t[0])
    pos, letter = found[-1]
    if letter == "HEDGE":
        return None, "hedge between two options"
    return letter, ""


def check(
    completion: str, answer, finish_reason: str | None = "stop", letters: str = "ABCDEFGHIJ"
) -> Verdict:
    def verdict(correct, extracted=None, reason=""):
        return Verdict(
            correct=correct, extracted=extracted, reason=reason, verifier=NAME, version=VERSION
        )

    gold = str(answer or "").strip().strip("()").upper()
    if len(gold) != 1 or gold not in letters:
        return verdict(None, reason=f"gold answer {answer!r} is not one of the letters {letters}")
    region, why = answer_region(completion, finish_reason)
    if region is None:
        return verdict(False, reason=why)
    letter, why = declared_letter(region, letters)
    if letter is None:
        return verdict(False, reason=why)
    ok = letter == gold
    return verdict(ok, letter, "match" if ok else "mismatch")
