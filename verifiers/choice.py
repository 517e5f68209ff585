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
        r"(?:final\s+answer|answer|(?:correct|best|right)\s+(?:option|choice)|the\s+(?:option|choice))\s*"
        r"(?:is\s*(?:(?:indeed|clearly|definitely|therefore|thus|then|still)\s*)?:?|:|=)?\s*"
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
        r"(?:option\s+|choice\s+)?" + _LETTER + r"\s+is\s+(?:the\s+)?(?:correct|right|answer)",
        re.IGNORECASE,
    ),
    # "I pick the fourth option, D", "the third option (C) is the answer"
    re.compile(
        r"\b(?:go(?:ing)?\s+with|choose|pick|select|opt\s+for)\s+the\s+\w+\s+(?:option|choice)\s*,?\s*"
        + _LETTER
        + _END,
        re.IGNORECASE,
    ),
]
# "That matches option C", "The first option, A, is the only one consistent": an option named in
# a sentence that endorses it, counted only when nothing above declares a letter.
_NAMED = re.compile(r"\b(?:option|choice)\s*,?\s*\(?([A-Z])\)?(?![\w(])")
_ENDORSES = re.compile(
    r"\b(?:match(?:es)?|consistent|correct|right|answer|best|pick|choose|select|go\s+with)\b",
    re.IGNORECASE,
)
_REJECTS = re.compile(
    r"\b(?:not|wrong|incorrect|tempting|eliminate|rule\s+out|isn't|fails?|but)\b", re.IGNORECASE
)
# A whole answer that is one option as a harness prints it: "A) 100", "(C) 12", "choice (C)".
_OPTION_LINE = re.compile(
    r"^\s*(?:option\s+|choice\s+)?\(?([A-Z])\)(?:\s+\S.{0,80})?\s*$", re.IGNORECASE
)
_BOXED_OPTION = re.compile(r"^\s*\(?([A-Z])\)(?:\s|$)|^\s*([A-Z])\s*$", re.IGNORECASE)
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
        inner = re.sub(r"\\(?:text\w*|mathrm|mathbf)\s*\{([^}]*)\}", r"\1", content)
        inner = inner.replace("\\ ", " ").strip()
        m = _BOXED_OPTION.match(inner)  # \boxed{C}, \boxed{\text{(A) } BF_3}
        letter = m and (m.group(1) or m.group(2)).upper()
        if letter and letter in letters:
            found.append((start, letter))
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
        if not m and len(lines) == 1:
            m = _OPTION_LINE.match(lines[0])
        if m and m.group(1).upper() in letters and (m.group(1).isupper() or len(lines) == 1):
            found.append((len(region), m.group(1).upper()))
    if not found:
        found = _endorsed_mentions(region, letters)
    if not found:
        return None, "refusal" if is_refusal(region) else "no declared letter"
    found.sort(key=lambda t: t[0])
    pos, letter = found[-1]
    if letter == "HEDGE":
        return None, "hedge between two options"
    return letter, ""


def _endorsed_mentions(region: str, letters: str) -> list[tuple[int, str]]:
    """Options named in sentences that endorse them and reject nothing ("That matches option C")."""
    found = []
    for sentence in re.finditer(r"[^.!?\n]+", region):
        text = sentence.group(0)
        if not _ENDORSES.search(text) or _REJECTS.search(text):
            continue
        for m in _NAMED.finditer(text):
            if m.group(1) in letters:
                found.append((sentence.start() + m.start(1), m.group(1)))
    return found


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
