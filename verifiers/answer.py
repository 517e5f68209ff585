"""Finding the final answer a completion commits to.

The rules (shared by every rule-based checker): the answer region is what follows the last
`</think>`; a truncated completion, an unclosed `<think>`, a refusal or a repetition loop has no
final answer; the last commitment wins, self-corrections included ("not 5; it is 7" is 7), and
remarks after it do not change it.
"""

from __future__ import annotations

import re

# We only ever read this much of the answer region: megabyte-long outputs cost nothing more.
TAIL_CHARS = 4000

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_REFUSAL = re.compile(
    r"\b(?:I\s+(?:cannot|can't|can not|won't|am unable to|am not able to|'m unable to|'m not able to)"
    r"\s+(?:help|answer|solve|assist|provide|determine|do that|comply)"
    r"|I\s+(?:do not|don't)\s+know\b"
    r"|I'm\s+sorry,?\s+but\s+I\b"
    r"|as an AI\b)",
    re.IGNORECASE,
)


def answer_region(
    completion: str | None, finish_reason: str | None = "stop"
) -> tuple[str | None, str]:
    """Return (region, "") or (None, why there is no final answer)."""
    if finish_reason == "length":
        return None, "truncated (finish_reason=length)"
    text = _CONTROL.sub("", completion or "")
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    elif "<think>" in text:
        return None, "unclosed <think> block"
    text = text[-TAIL_CHARS:]
    if not text.strip():
        return None, "no final answer (empty answer region)"
    if is_repetition_loop(text):
        return None, "repetition loop"
    return text, ""


def is_refusal(text: str) -> bool:
    return bool(_REFUSAL.search(text))


def is_repetition_loop(text: str) -> bool:
    """A tail that repeats one chunk over and over, or one line five times running."""
    tail = text.rstrip()[-1200:]
    n = len(tail)
    if n >= 200:
        for period in range(1, 301):
            span = max(200, 4 * period)
            if span + period > n:
                break
            # Periodic with this period over span + period chars: the tail equals itself shifted.
            if (
                tail[-1] == tail[-1 - period]
                and tail[-span:] == tail[-span - period : -period]
                and tail[-period:].strip()
            ):
                return True
    run, last = 0, None
    for line in (ln.strip() for ln in text.splitlines()):
        if not line:
            continue
        if line == last and len(line) >= 10:
            run += 1
            if run >= 5:
                return True
        else:
            run, last = 1, line
    return False


def balanced(text: str, start: int, open_ch: str = "{", close_ch: str = "}") -> int:
    """Index just past the brace group opening at `start`, or -1 if it never closes."""
    depth = 0
    for i in range(start, len(text)):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] in "{}":
            continue
        if c == open_ch and (i == 0 or text[i - 1] != "\\"):
            depth += 1
        elif c == close_ch and (i == 0 or text[i - 1] != "\\"):
            depth -= 1
            if depth == 0:
                return i + 1
    return -1


_BOX = re.compile(r"\\(?:boxed|fbox)\s*\{")


def boxed_spans(text: str) -> list[tuple[int, int, str]]:
    """All `\\boxed{...}` groups as (start, end, content), outermost only, in order."""
    out = []
    pos = 0
    while True:
        m = _BOX.search(text, pos)
        if not m:
            return out
        end = balanced(text, m.end() - 1)
        if end < 0:
            out.append((m.start(), len(text), text[m.end() :]))
            return out
        out.append((m.start(), end, text[m.end() : end - 1]))
        pos = end


# "the final answer is", "Answer:", "answer = " ... and what a correction after a negation says.
_ANCHOR = re.compile(
    r"(?:\b(?:final\s+answer|answer)(?:\s+(?:to\s+(?:the|this)\s+\w+|is\s+therefore))?"
    r"\s*(?:is|:|=|would\s+be|will\s+be|should\s+be|equals)\s*"
    r"|\bthe\s+(?:correct\s+)?(?:option|choice)\s+is\s*"
    r"|^[ \t]*####[ \t]*)",  # GSM8K's "#### 18"
    re.IGNORECASE | re.MULTILINE,
)
_NEGATED = re.compile(r"^\s*(?:not|n't|no\b)", re.IGNORECASE)
_CORRECTION = re.compile(
    r"(?:[;,.]|\bbut)\s*(?:it\s+is|it's|it\s+should\s+be|rather|instead|actually)\s*(?:it\s+is\s*)?",
    re.IGNORECASE,
)


def _find_close(text: str, close: str, start: int) -> int:
    """Index of `close` at or after `start`, skipping escaped dollars (\\$5 is money)."""
    i = text.find(close, start)
    while i > 0 and close.startswith("$") and text[i - 1] == "\\":
        i = text.find(close, i + 1)
    return i


def _joined_blocks(rest: str, open_: str, close: str, end: int) -> str:
    """ "$x=3$, $x=5$, and $x=7$" or "$x = -2$ or $x = 3$": one answer written in several blocks."""
    parts, joiner, pos = [rest[len(open_) : end]], ", ", end + len(close)
    sep = re.compile(r"\s*(,\s*(?:and|or)?|and|or)\s*" + re.escape(open_))
    while len(parts) < 10:
        m = sep.match(rest, pos)
        close_at = _find_close(rest, close, m.end()) if m else -1
        if close_at < 0:
            break
        if "or" in m.group(1):
            joiner = " \\text{ or } "
        parts.append(rest[m.end() : close_at])
        pos = close_at + len(close)
    return joiner.join(parts)


def _phrase_after(text: str, start: int) -> str:
    """The answer phrase starting at `start`: a math block, or up to the end of the sentence."""
    rest = text[start:].lstrip(" *:\n")
    for open_, close in (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$")):
        if rest.startswith(open_):
            end = _find_close(rest, close, len(open_))
            if end > 0:
                return _joined_blocks(rest, open_, close, end)
    if rest.startswith(("\\boxed", "\\fbox")):
        spans = boxed_spans(rest)
        if spans:
            return spans[0][2]
    line = rest.split("\n", 1)[0]
    # Sentence end: a period not inside a number, or a semicolon; math inside $...$ is kept whole.
    out, i, in_math = [], 0, False
    while i < len(line):
        c = line[i]
        if c == "\\" and i + 1 < len(line):
            out.append(line[i : i + 2])  # "\!" and "\," are spacing (10,\!080), never an end
            i += 2
            continue
        if c == "$":
            in_math = not in_math
        elif not in_math and (
            (c == "." and not (i + 1 < len(line) and line[i + 1].isdigit()))
            or c in ";!?"
            or (c in ",(" and _looks_like_remark(line[i + 1 :]))
            or line.startswith((" -- ", " \u2014 ", "\u2014"), i)
        ):
            break
        out.append(c)
        i += 1
    return "".join(out).strip().strip("*").strip()


# What opens a remark after an answer: "9 (since 3^2 = 9, not 6)", "2, which is prime".
_REMARK_START = re.compile(
    r"\s*(?:(?:which|since|because|as|so|and\s+(?:this|that|so)|where|hence|thus|note|not|from|by"
    r"|using|given|when|this|that|it|check|checking|verified|wait|rounded|approximately)\b"
    r"|i\s|i\.e\.|e\.g\.)",
    re.IGNORECASE,
)


def _looks_like_remark(s: str) -> bool:
    return bool(_REMARK_START.match(s))


def commitments(text: str) -> list[tuple[int, str, str]]:
    """Every place the text commits to an answer: (position, phrase, how)."""
    found: list[tuple[int, str, str]] = []
    for start, _end, content in boxed_spans(text):
        found.append((start, content, "boxed"))
    # Only the last few anchors can be the final one; a text full of "answer:" costs no more.
    for m in list(_ANCHOR.finditer(text))[-16:]:
        after = text[m.end() :]
        if _hypothetical(text, m.start(), m.end()):
            continue  # "if the order mattered, the answer would be 42" commits to nothing
        if _NEGATED.match(after):
            # "the answer is not 5; it is 7": the correction is the commitment.
            tail = after[:200]
            c = _CORRECTION.search(tail)
            if c:
                found.append(
                    (m.end() + c.end(), _phrase_after(text, m.end() + c.end()), "correction")
                )
            continue
        phrase = _phrase_after(text, m.end())
        if phrase and not phrase.startswith(("\\boxed", "\\fbox")):
            found.append((m.start(), phrase, "anchor"))
    found.sort(key=lambda t: t[0])
    return found


_HYPOTHETICAL = re.compile(
    r"\b(?:if|had|otherwise|suppose|supposing|were|note|would\s+have)\b", re.IGNORECASE
)


def _hypothetical(text: str, start: int, end: int) -> bool:
    """Is the anchor inside a conditional sentence ("if ..., the answer would be ...")?"""
    left = max(text.rfind(c, 0, start) for c in ".\n;!?")
    rights = [i for i in (text.find(c, end) for c in ".\n;!?") if i >= 0]
    right = min(rights) if rights else len(text)
    sentence = text[left + 1 : start] + " " + text[end:right]
    return bool(_HYPOTHETICAL.search(sentence)) and "\\boxed" not in text[end:right]


# An escaped dollar (\\$110) is money inside math, never a delimiter.
_MATH_BLOCK = re.compile(
    r"(?<!\\)\$\$(.+?)(?<!\\)\$\$|\\\[(.+?)\\\]|\\\((.+?)\\\)|(?<!\\)\$((?:\\.|[^$\\])+?)\$",
    re.DOTALL,
)
_NUMBER = re.compile(
    r"-?(?:\d{1,3}(?:,\d{3})+(?![\d])|\d+)(?:\.\d+)?(?:\s*/\s*\d+)?"
    r"(?:%|\s*(?:thousand|million|billion|trillion)\b)?"
)


# Prose allowed after the last expression for it still to be the conclusion ("... is 42 apples in
# all."); more means the sentence goes on about something else.
_MAX_TRAILING_WORDS = 4


def fallback_answer(text: str) -> str | None:
    """Without an explicit commitment: the last math block or number of the last sentence with one."""
    stripped = text.rstrip()
    blocks = list(_MATH_BLOCK.finditer(stripped))
    nums = list(_NUMBER.finditer(stripped))
    last_block = blocks[-1] if blocks else None
    last_num = nums[-1] if nums else None
    last = (
        last_block
        if last_block and (not last_num or last_block.end() >= last_num.start())
        else last_num
    )
    if last and len(re.findall(r"[A-Za-z]{2,}", stripped[last.end() :])) > _MAX_TRAILING_WORDS:
        # "Solving $\sqrt{242}$ involves finding the square root of ...": the last expression sits
        # inside prose that goes on; it is not a conclusion, so there is no final answer.
        return None
    if last_block and (not last_num or last_block.end() >= last_num.start()):
        inner = next(g for g in last_block.groups() if g is not None)
        # "x = 2 or x = 3" written as two math blocks joined by "or" stays a hedge.
        before = stripped[max(0, last_block.start() - 200) : last_block.start()]
        prev = list(_MATH_BLOCK.finditer(before))
        if prev and re.fullmatch(r"\s*(?:or|and|,)\s*", before[prev[-1].end() :]):
            joiner = before[prev[-1].end() :].strip()
            first = next(g for g in prev[-1].groups() if g is not None)
            return f"{first} \\text{{ {joiner} }} {inner}"
        return inner
    if last_num:
        # Keep a hedge visible: "5 or 7" must not read as 7.
        line_start = stripped.rfind("\n", 0, last_num.start()) + 1
        sentence = stripped[line_start : last_num.end()]
        m = re.search(r"(-?\d[\d,./]*)\s+or\s+(?:x\s*=\s*)?(-?\d[\d,./]*)$", sentence)
        if m:
            return f"{m.group(1)} \\text{{ or }} {m.group(2)}"
        # Keep a unit word with its number ("120 minutes"): normalisation converts or drops it.
        unit = re.match(r"\s*([A-Za-z]+)\b", stripped[last_num.end() :])
        if unit and _looks_like_remark(unit.group(0)):
            unit = None  # "2 which is prime": no unit
        const = re.match(r"\s*(?:\\pi\b|\\sqrt\s*\{\d+\}|i\b)", stripped[last_num.end() :])
        if const:  # "**4π**" (as LaTeX: 4\pi), "2\sqrt{3}", "3i": the constant is part of it
            return last_num.group(0) + const.group(0)
        return last_num.group(0) + (" " + unit.group(1) if unit else "")
    # A word answer at the end: "The next day is Monday."
    m = re.search(
        r"\b(?:is|are|was)\s+(?:the\s+|an?\s+)?([A-Za-z][A-Za-z' -]{0,40}?)\s*[.!]?\s*$",
        stripped,
    )
    return m.group(1) if m else None


# Words that are maths, not prose, when an answer is written bare ("\\sin x", "x mod 5", "2 or 3").
_MATH_WORDS = frozenset(
    "sin cos tan cot sec csc arcsin arccos arctan sinh cosh tanh log ln lg exp lim max min gcd "  # noqa: SIM905
    "lcm det mod dim deg or and no none undefined infinity inf".split()
)
# Two-letter words that are English, not variables or units ("it is 5", "so 4").
_SHORT_PROSE = frozenset("is it so as be we to of in on at by if do my me he up us am an".split())  # noqa: SIM905
_CMD_OR_TEXT = re.compile(
    r"\\(?:text|textbf|mathrm|mbox|operatorname|begin|end)\s*\{[^{}]*\}|\\[A-Za-z]+|\\.|\{|\}"
)
# A remark about an answer already given, not a new conclusion ("so", "hence" would be).
_AFTERTHOUGHT = re.compile(
    r"(?:which|since|because|as|where|being|not|note|i\.e\.|e\.g\.|that\s+is)\b", re.IGNORECASE
)
_LEAD_IN = re.compile(r"\b(?:is|are|equals|was|be)\s+(?:equal\s+to\s+)?")
_DELIMS = (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$"))


def is_bare(text: str) -> bool:
    """Is `text` an answer by itself (`\\frac{10}{9}`, `f(x) = x - 1`, `p - q`, `Evelyn`), not prose?

    Harnesses pass extracted answers as often as whole solutions; such a text is its own final
    answer, never "the last number inside it".
    """
    s = text.strip().rstrip(".").strip()
    for open_, close in _DELIMS:
        if s.startswith(open_) and s.endswith(close) and len(s) > len(open_) + len(close):
            s = s[len(open_) : -len(close)].strip()
            break
    if not s or len(s) > 200 or re.search(r"(?<!\\)\$", s) or ("\n" in s and "\\begin" not in s):
        return False
    if re.fullmatch(
        r"(?:\\text\s*\{\s*)?[A-Za-z][A-Za-z'-]*(?: [A-Za-z][A-Za-z'-]*){0,3}\s*\}?", s
    ):
        return not is_refusal(s)  # a word answer: "Evelyn", "\\text{east}", "no solution"
    words = re.findall(r"[A-Za-z]{2,}", _CMD_OR_TEXT.sub(" ", s))
    return not any(
        w.lower() not in _MATH_WORDS and (len(w) > 2 or w.lower() in _SHORT_PROSE) for w in words
    )


def final_answer(region: str) -> tuple[str | None, str]:
    """(answer phrase, how it was found) or (None, why not)."""
    found = commitments(region)
    if found:
        pos, phrase, how = found[-1]
        if how == "boxed":
            # Boxes side by side in one sentence ("\\boxed{2} and \\boxed{3}") are one answer.
            boxes = [b for b in boxed_spans(region) if b[0] <= pos]
            group = [boxes[-1]]
            for prev in reversed(boxes[:-1]):
                between = region[prev[1] : group[0][0]]
                # "$s = \boxed{-3}$ or $s = \boxed{3}$" is one hedged answer, too.
                if re.fullmatch(
                    r"[\s$]*(?:,?\s*(?:and|or)(?:\s+(?:maybe|perhaps|possibly))?|,"
                    r"|\\text\{\s*(?:and|or)\s*\}|\\quad)?[\s$]*"
                    r"(?:[A-Za-z](?:_\{?\w+\}?)?\s*=\s*)?[\s$]*",
                    between,
                ):
                    group.insert(0, prev)
                else:
                    break
            if len(group) > 1:
                joiner = "or" if "or" in region[group[0][1] : group[-1][0]] else ","
                phrase = (
                    f" {joiner} ".join(g[2] for g in group)
                    if joiner == ","
                    else " \\text{ or } ".join(g[2] for g in group)
                )
        if how == "anchor" and not is_bare(phrase):
            # "Final Answer: The largest $n$ is 34." commits to what follows the last "is".
            m = list(_LEAD_IN.finditer(phrase))
            if m and is_bare(phrase[m[-1].end() :]):
                phrase = phrase[m[-1].end() :]
        if not phrase.strip():
            return None, "empty final answer"
        return phrase, how
    if is_refusal(region):
        return None, "refusal"
    if is_bare(region):
        return region.strip(), "whole answer"
    if "\n" not in region.strip():
        # "2, which is the smallest prime": an answer, then a remark about it.
        lead = _phrase_after(region, 0)
        rest = region.strip()[len(lead) :].lstrip(" ,(")
        if lead and is_bare(lead) and _AFTERTHOUGHT.match(rest):
            return lead, "leading answer"
    phrase = fallback_answer(region)
    if phrase is None:
        return None, "no final answer found"
    return phrase, "last expression"
