"""Rule-based math checking: math-verify parses, we normalise, extract and compare strictly.

math-verify is the LaTeX-to-SymPy core. Around it we add what it lacks for training data: the
final-answer rules of `answer.py`, normalisation of how datasets store golds (bare LaTeX, units,
separators, percent, "2.5 million"), exact arithmetic (decimals become fractions before parsing, so
3.14 is never pi and 1/99! is never 1/100!) and structural comparison of sets, tuples, intervals,
equations and matrices. Simple numeric answers never reach SymPy (the fast path).
"""

from __future__ import annotations

import logging
import random
import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from verifiers import numeric
from verifiers.answer import answer_region, balanced, boxed_spans, final_answer
from verifiers.verdict import Verdict

NAME = "math"
VERSION = "1.0"

# math-verify warns once that we turned its signal-based timeouts off; we bound time with processes.
logging.getLogger("math_verify").setLevel(logging.ERROR)


# ---------------------------------------------------------------------------------------------
# Normalisation: a phrase as a dataset or a model writes it -> LaTeX we can parse + side facts.


@dataclass(frozen=True)
class Answer:
    """A normalised answer: LaTeX text plus what normalisation took off it."""

    latex: str
    percent: bool = False
    degrees: bool = False
    unit: tuple[str, int] | None = None  # (dimension, power)
    unit_factor: Fraction = Fraction(1)
    text: str | None = None  # a word answer ("east"), compared as text
    fvar: str | None = None  # "f(x) = 2x": the function's variable; latex holds "2x"
    base: int | None = None  # "4210_{5}": the numeral's base; latex holds "4210"


class Abstain(Exception):  # noqa: N818 (a verdict, not an error)
    """The rules cannot decide: the verdict is `correct=None` with this reason, for the judge."""


_STRIP_CMDS = re.compile(
    r"(?<!\\)\\(?:displaystyle|left|right|big|Big|bigg|Bigg|limits|nolimits|textstyle|quad|qquad| )"
)
# Thin spaces are thousands separators in datasets (1,\!999 and 1\,000): they vanish, not become spaces.
_THIN = re.compile(r"(?<!\\)\\[!,;:]")
_WRAPPERS = re.compile(
    r"\\(?:text|textbf|textit|mathrm|mathbf|mathit|operatorname|mbox|textnormal|emph)\s*\{"
)
_SPACES = re.compile(r"[\u00a0\u2000-\u200b\u202f\u205f\u3000]")
_MULTIPLIERS = {"thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}
_LEN = {
    "mm": Fraction(1, 1000),
    "millimeter": Fraction(1, 1000),
    "millimetre": Fraction(1, 1000),
    "cm": Fraction(1, 100),
    "centimeter": Fraction(1, 100),
    "centimetre": Fraction(1, 100),
    "m": Fraction(1),
    "meter": Fraction(1),
    "metre": Fraction(1),
    "km": Fraction(1000),
    "kilometer": Fraction(1000),
    "kilometre": Fraction(1000),
    "inch": Fraction(254, 10000),
    "inches": Fraction(254, 10000),
    "ft": Fraction(3048, 10000),
    "foot": Fraction(3048, 10000),
    "feet": Fraction(3048, 10000),
    "yard": Fraction(9144, 10000),
    "yd": Fraction(9144, 10000),
    "mile": Fraction(1609344, 1000),
    "mi": Fraction(1609344, 1000),
}
_TIME = {
    "s": Fraction(1),
    "sec": Fraction(1),
    "second": Fraction(1),
    "min": Fraction(60),
    "minute": Fraction(60),
    "h": Fraction(3600),
    "hr": Fraction(3600),
    "hour": Fraction(3600),
    "day": Fraction(86400),
    "week": Fraction(604800),
    "ms": Fraction(1, 1000),
    "millisecond": Fraction(1, 1000),
}
_MASS = {
    "mg": Fraction(1, 1000),
    "g": Fraction(1),
    "gram": Fraction(1),
    "kg": Fraction(1000),
    "kilogram": Fraction(1000),
}
_VOL = {
    "ml": Fraction(1, 1000),
    "milliliter": Fraction(1, 1000),
    "l": Fraction(1),
    "liter": Fraction(1),
    "litre": Fraction(1),
}
_MONEY = {"dollar": Fraction(1), "cent": Fraction(1, 100), "usd": Fraction(1)}
UNITS: dict[str, tuple[str, Fraction]] = {}
for _dim, _table in (
    ("length", _LEN),
    ("time", _TIME),
    ("mass", _MASS),
    ("volume", _VOL),
    ("money", _MONEY),
):
    for _name, _factor in _table.items():
        UNITS[_name] = (_dim, _factor)

_UNIT_TAIL = re.compile(
    r"^(?P<num>.*?(?:[\d}).]|\\pi))\s*(?P<sq>square\s+|sq\.?\s+|cubic\s+)?(?P<unit>[A-Za-z][A-Za-z.]*(?:\s+[A-Za-z]+){0,2})"
    r"\s*(?:\^\s*\{?(?P<pow>[23])\}?)?\s*$"
)
_NUMERIC_LATEX = re.compile(r"^[-+\d\s.,{}()/*^]*$")


def _unwrap(s: str) -> str:
    """`\\text{abc}` -> ` abc `, repeatedly, with balanced braces."""
    for _ in range(20):
        m = _WRAPPERS.search(s)
        if not m:
            return s
        end = balanced(s, m.end() - 1)
        if end < 0:
            return s[: m.start()] + s[m.end() :]
        s = s[: m.start()] + " " + s[m.end() : end - 1] + " " + s[end:]
    return s


def _decimal_to_frac(whole: str, frac: str, rep: str = "") -> str:
    """An exact decimal (0.125, 0.1\\overline{6}) as LaTeX of the same rational value."""
    if rep:
        # 0.1\overline{6} = (16 - 1) / 90
        non_rep = int(whole + frac) if (whole + frac) else 0
        value = Fraction(int(whole + frac + rep) - non_rep, (10 ** len(rep) - 1) * 10 ** len(frac))
    else:
        value = Fraction(int(whole + frac), 10 ** len(frac))
    if value.denominator == 1:
        return str(value.numerator)
    return f"(\\frac{{{value.numerator}}}{{{value.denominator}}})"


_DECIMAL = re.compile(
    r"(?<![\d.])(\d+)\.(\d*)\\overline\s*\{(\d+)\}|(?<![\d.])(\d*)\.(\d+)(?![\d.])"
)


def _exact_decimals(s: str) -> str:
    def repl(m: re.Match) -> str:
        if m.group(3) is not None:
            return _decimal_to_frac(m.group(1), m.group(2) or "", m.group(3))
        return _decimal_to_frac(m.group(4) or "0", m.group(5))

    return _DECIMAL.sub(repl, s)


def _singular(word: str) -> str:
    w = word.lower().rstrip(".")
    if w.endswith("ies"):
        return w[:-3] + "y"
    if w.endswith("es") and w[:-2] in UNITS:
        return w[:-2]
    if w.endswith("s") and w[:-1] in UNITS:
        return w[:-1]
    return w


_WORDS = r"[A-Za-z]+(?:['-][A-Za-z]+)*(?: [A-Za-z]+(?:['-][A-Za-z]+)*)*"
_QUANTITY = re.compile(r"(\d+(?:\.\d+)?)\s*([A-Za-z]+)")


def _compound_quantity(s: str) -> tuple[str, tuple[str, int]] | None:
    """ "2 hours and 30 minutes" -> ("9000", ("time", 1)): one quantity in base units."""
    pairs = list(_QUANTITY.finditer(s))
    if len(pairs) < 2 or re.sub(r"\s|,|\band\b", "", _QUANTITY.sub("", s)):
        return None
    dims, total = set(), Fraction(0)
    for m in pairs:
        word = _singular(m.group(2))
        if word not in UNITS:
            return None
        dim, f = UNITS[word]
        dims.add(dim)
        total += Fraction(m.group(1)) * f
    if len(dims) != 1:
        return None
    n, d = total.numerator, total.denominator
    return (str(n) if d == 1 else f"\\frac{{{n}}}{{{d}}}"), (dims.pop(), 1)


# Plain-text and Unicode maths as models and harnesses write it -> LaTeX.
_UNICODE = {
    "\u2212": "-",  # minus sign
    "\u2013": "-",  # en dash used as minus
    "\u00d7": " \\times ",
    "\u22c5": " \\cdot ",
    "\u00b7": " \\cdot ",
    "\u00f7": " \\div ",
    "\u00b1": "\\pm ",
    "\u2213": "\\mp ",
    "\u221e": "\\infty ",
    "\u03c0": "\\pi ",
    "\u2264": " \\le ",
    "\u2265": " \\ge ",
    "\u2260": " \\neq ",
    "\u2248": " \\approx ",
    "\u222a": " \\cup ",
    "\u2229": " \\cap ",
    "\u2208": " \\in ",
    "\u2205": "\\emptyset ",
    "\u00b2": "^2",
    "\u00b3": "^3",
    "\u00bd": "(1/2)",
    "\u00bc": "(1/4)",
    "\u00be": "(3/4)",
}
_UNICODE_RE = re.compile("|".join(map(re.escape, _UNICODE)))
_SQRT_SIGN = re.compile(r"\u221a\s*(\d+(?:\.\d+)?|[A-Za-z]|\\pi|\(([^()]*)\)|\{([^{}]*)\})")


def plain_math(text: str) -> str:
    """`√12`, `2π`, `x ≥ 0`, `3 × 10⁸`-style Unicode as the LaTeX math-verify reads."""
    if text.isascii():
        return text
    text = _SQRT_SIGN.sub(
        lambda m: "\\sqrt{" + (m.group(2) or m.group(3) or m.group(1)) + "}", text
    )
    return _UNICODE_RE.sub(lambda m: _UNICODE[m.group(0)], text)


def normalize(phrase: str) -> Answer:
    """Turn an answer phrase into parseable LaTeX, recording percent, degrees and units."""
    s = _SPACES.sub(" ", plain_math(phrase))
    s = s.replace("\\$", " ").replace("$", " ").replace("**", " ").replace("\\%", "%")
    s = (
        s.replace("\\dfrac", "\\frac")
        .replace("\\tfrac", "\\frac")
        .replace("{,}", "")
        .replace("\\cdot10", "\\cdot 10")
        .replace("\\varnothing", "\\emptyset")
    )
    s = re.sub(r"\\(?:boxed|fbox|Box)\s*\{", "{", s)
    s = _unwrap(s)
    s = _THIN.sub("", s)
    s = _STRIP_CMDS.sub(" ", s)
    s = re.sub(r"\\(?:approx|sim)\b.*$", "", s) if re.search(r"\S\s*\\approx", s) else s
    s = re.sub(r"^\s*(?:\\approx|\\sim|~)\s*", "", s)  # "\approx 15.556" claims 15.556
    s = s.replace("\\infty", "\\infty ").strip()
    s = re.sub(r"\s+", " ", s).strip(" ;:").rstrip(".").strip()
    s = re.sub(r"^\.(?!\d)\s*", "", s)
    # "4210_{5}": a numeral in base 5 (its digits, and the base to compare with another base).
    base = None
    m = re.fullmatch(r"([0-9A-Fa-f]+)\s*_\s*\{?\s*(\d+)\s*\}?", s)
    if m and 2 <= int(m.group(2)) <= 36:
        try:
            int(m.group(1), int(m.group(2)))
            s, base = m.group(1), int(m.group(2))
        except ValueError:
            pass
    # "f(x) = 2x": a function given by its rule; the variable is kept to compare definitions.
    fvar = None
    m = re.fullmatch(r"[A-Za-z]\s*\(\s*([A-Za-z])\s*\)\s*=\s*(.+)", s)
    if m:
        fvar, s = m.group(1), m.group(2)
    # Leading "x =" of an assignment with a numeric right side, and chains "a = b = 7".
    m = re.fullmatch(r"(?:[A-Za-z](?:_\{?\w+\}?)?|\\[a-z]+)\s*=\s*(.+)", s)
    if m and not re.search(r"[A-Za-z]", re.sub(r"\\[a-zA-Z]+", "", m.group(1))):
        s = m.group(1)
    if "=" in s and not re.search(r"[<>,;]|\\[lg]eq?\b|\\neq|\bor\b|\band\b|\\vee", s):
        parts = [p.strip() for p in re.split(r"(?<![<>!\\])=", s)]
        numeric = [not re.search(r"[A-Za-z]", re.sub(r"\\[a-zA-Z]+", "", p)) for p in parts]
        # "a = b = 7" and "\sqrt{4+1} = \sqrt5": the last side is the answer.
        if len(parts) >= 2 and all(parts) and numeric[-1] and (len(parts) > 2 or numeric[0]):
            s = parts[-1]

    percent = False
    if re.search(r"%|\bpercent\b", s):
        percent = True
        s = re.sub(r"%|\s*\bpercent\b", "", s).strip()
    degrees = False
    if re.search(r"\^\s*\{?\s*\\circ\s*\}?|°|\\degree|\bdegrees?\b", s):
        degrees = True
        s = re.sub(r"\^\s*\{?\s*\\circ\s*\}?|°|\\degree|\s*\bdegrees?\b", "", s).strip()
    s = re.sub(r"\s*\b(?:radians?|rad)\s*$", "", s)

    # Separators: 1,000,000 and 1 000 000 -> 1000000 (a set "1, 2" keeps its space).
    s = re.sub(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?![\d,])", lambda m: m.group(0).replace(",", ""), s)
    s = re.sub(r"(?<![\d.])\d{1,3}(?: \d{3})+(?![\d.])", lambda m: m.group(0).replace(" ", ""), s)
    # 2.5 million, 3 thousand
    s = re.sub(
        r"(\d+(?:\.\d+)?)\s*(thousand|million|billion|trillion)\b",
        lambda m: f"{m.group(1)} \\times {_MULTIPLIERS[m.group(2).lower()]}",
        s,
        flags=re.IGNORECASE,
    )
    # 2.5e6 / 2.5E-3 -> 2.5 \times 10^{6}
    s = re.sub(r"(?<![A-Za-z\\])(\d+(?:\.\d+)?)[eE]([+-]?\d+)\b", r"\1 \\times 10^{\2}", s)

    unit, factor = None, Fraction(1)
    compound = _compound_quantity(s)
    if compound is not None:
        s, unit = compound
    m = None if compound else _UNIT_TAIL.match(s)
    if m and _NUMERIC_LATEX.match(re.sub(r"\\(?:frac|sqrt|times|cdot|pi)\b", "", m.group("num"))):
        words = m.group("unit").split()
        word = _singular(words[0])
        power = int(
            m.group("pow")
            or (3 if m.group("sq") and "cubic" in m.group("sq") else 2 if m.group("sq") else 1)
        )
        if word in UNITS:
            dim, f = UNITS[word]
            unit, factor = (dim, power), f**power
            s = m.group("num").strip()
        elif len(words[0]) >= 3:
            # An unknown word after a number ("12 apples", "5 units"): drop it.
            s = m.group("num").strip()
    s = re.sub(r"^\s*(?:\\\$|\$)\s*", "", s)

    text = None
    bare = re.sub(r"[^A-Za-z0-9 ]", " ", s).strip().lower()
    # A word answer ("east", "Evelyn", "well-known"): words only, one of at least three letters.
    if re.fullmatch(_WORDS, s.strip()) and re.search(r"[A-Za-z]{3}", s):
        text = re.sub(r"^(?:the|a|an)\s+", "", re.sub(r"\s+", " ", bare))
    return Answer(
        latex=s.strip(),
        percent=percent,
        degrees=degrees,
        unit=unit,
        unit_factor=factor,
        text=text,
        fvar=fvar,
        base=base,
    )


# ---------------------------------------------------------------------------------------------
# Fast path: plain numbers compared as exact fractions, no SymPy.

_FAST_NUM = re.compile(
    r"^(-)?\s*(?:(\d*)(?:\.(\d+))?|\\frac\s*\{\s*(\d+)\s*\}\s*\{\s*(\d+)\s*\}|(\d+)\s*/\s*(\d+))$"
)


def fast_value(latex: str) -> Fraction | None:
    paren = re.fullmatch(r"\s*(-)?\s*\(\s*([^()]*?)\s*\)\s*", latex)
    if paren:  # "-(76)", "(3)": a sign flip written around a number
        v = fast_value(paren.group(2))
        return None if v is None else -v if paren.group(1) else v
    m = _FAST_NUM.match(latex.strip().replace("{-", "-{"))
    if not m:
        return None
    neg, whole, frac, fn, fd, sn, sd = m.groups()
    if whole is not None:
        if not whole and not frac:
            return None
        v = Fraction(int((whole or "0") + (frac or "")), 10 ** len(frac or ""))
    elif fn is not None:
        if int(fd) == 0:
            return None
        v = Fraction(int(fn), int(fd))
    else:
        if int(sd) == 0:
            return None
        v = Fraction(int(sn), int(sd))
    return -v if neg else v


def _scaled(a: Answer, v):
    return v * a.unit_factor if a.unit else v


def _percent_match(g: Answer, gv, p: Answer, pv, eq) -> bool:
    """Percent is a value: 30% is 0.3, and 30 for a question that asks for the percent.

    With a percent sign on both sides the numbers must agree (0.3% is not 30%); with one sign,
    the other side may give the number of percent or the value.
    """
    if g.percent == p.percent:
        return eq(gv, pv)
    if g.percent:
        return eq(gv, pv) or eq(gv / 100, pv)
    # A gold without the sign: 30% is the value 0.3, or "30" where the gold counts percent; a gold
    # below 1 is a value, so 0.3% is never 0.3.
    return eq(pv / 100, gv) or (eq(pv, gv) and abs(gv) >= 1)


def _numbers_match(g: Answer, gv, p: Answer, pv) -> bool:
    if g.unit and p.unit and g.unit != p.unit:
        return False
    if g.unit and p.unit:
        gv, pv = _scaled(g, gv), _scaled(p, pv)
    return _percent_match(g, gv, p, pv, lambda a, b: a == b)


# ---------------------------------------------------------------------------------------------
# Slow path: SymPy objects from math-verify's parser, compared structurally and exactly.


def _hedge_parts(latex: str) -> list[str]:
    parts = re.split(
        r"\s*(?:\\text\{\s*or\s*\}|\bor\b|\\quad\s*\\text\{or\}\s*\\quad|\\vee)\s*", latex
    )
    return [p for p in (x.strip(" ,") for x in parts) if p]


_SET_BUILDER = re.compile(
    r"\\\{\s*([A-Za-z])\s*(?:\\in\s*\\mathbb\s*\{?R\}?)?\s*(?:\\mid|\||:)\s*(.+?)\s*\\\}"
)


@lru_cache(maxsize=8192)
def to_sympy(latex: str):
    """Parse normalised LaTeX into a SymPy object, or None. Tuples "(a, b)" stay tuples."""
    import sympy
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse

    latex = _exact_decimals(latex)
    parts = _hedge_parts(latex)
    if len(parts) > 1:
        items = [to_sympy(p) for p in parts]
        if any(i is None for i in items):
            return None
        if all(
            isinstance(i, sympy.core.relational.Relational) and not isinstance(i, sympy.Eq)
            for i in items
        ):
            return sympy.Or(*items)  # "x < -1 or x > 2" describes one set, it is no hedge
        flat = []
        for i in items:
            flat.extend(i.args if isinstance(i, sympy.FiniteSet) else [i])
        return sympy.FiniteSet(*flat, evaluate=False) if flat else None
    inner = latex.strip()
    builder = _SET_BUILDER.fullmatch(inner)
    if builder:
        # {x in R | x != -4 and x != 6}: the set its condition describes.
        conds = [to_sympy(c) for c in re.split(r"\s+and\s+|\\land|\\wedge|,", builder.group(2))]
        if conds and all(c is not None for c in conds):
            return _as_set(sympy.And(*conds))
    named = [re.fullmatch(r"\s*([A-Za-z])\s*=\s*(.+?)\s*", x) for x in _top_level_commas(inner)]
    if named and all(named) and len({m.group(1) for m in named}) == len(named):
        # "x = 2, y = -1" names the components of a point: a tuple in the written order.
        items = [to_sympy(m.group(2)) for m in named]
        if all(i is not None for i in items):
            return sympy.Tuple(*items)
    if (
        inner.startswith("(")
        and balanced(inner, 0, "(", ")") == len(inner)  # "(a, b) \cup (c, d)" is no tuple
        and _top_level_commas(inner[1:-1])
    ):
        items = [to_sympy(x) for x in _top_level_commas(inner[1:-1])]
        if all(i is not None for i in items):
            return sympy.Tuple(*items)
    out = parse(
        f"${latex}$",
        extraction_config=[LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()],
        parsing_timeout=None,
    )
    for obj in out:
        if not isinstance(obj, str):
            return obj
    return None


def _top_level_commas(s: str) -> list[str]:
    parts, depth, cur = [], 0, []
    for c in s:
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
    parts.append("".join(cur))
    return [p.strip() for p in parts] if len(parts) > 1 and all(p.strip() for p in parts) else []


def _close(a, b) -> bool:
    """Equality of two closed-form numbers, exact where SymPy can tell, never by rounding.

    The difference decides: an exact rational difference is the answer (so 100000000! + 1 is not
    100000000!, whatever a relative tolerance says). Otherwise it is evaluated to 40 digits past
    the decimal point of the larger value; beyond 1,000 digits of magnitude the rules abstain.
    """
    import math

    import sympy

    if a == b:
        return True
    try:
        d = a - b
        if d.is_Rational:
            return d == 0
        va, vb = sympy.N(a, 30), sympy.N(b, 30)
    except Exception:
        return False
    if not (va.is_number and vb.is_number):
        try:  # numbers that will not evaluate (symbolic constants): last resort, slow
            return bool(sympy.simplify(d) == 0)
        except Exception:
            return False
    if va.has(sympy.nan, sympy.zoo) or vb.has(sympy.nan, sympy.zoo):
        return False
    if not (va.is_finite and vb.is_finite):
        return va == vb  # oo only equals oo
    scale = max(abs(va), abs(vb))
    if abs(va - vb) > sympy.Float("1e-20", 30) * scale:
        return False  # 30 good digits already tell them apart
    f = float(scale)
    digits = 10**6 if math.isinf(f) else int(math.log10(f)) + 1 if f >= 1 else 0
    if digits > 1000:
        raise Abstain("values too large to compare exactly in the time limit")
    try:
        dv = sympy.N(d, 60 + digits)
        return bool(abs(dv) <= sympy.Float("1e-40", 60) * min(1, scale))
    except Exception:
        return False


def _scalar_eq(a, b) -> bool:
    import sympy

    if a == b:
        return True
    fa, fb = getattr(a, "free_symbols", set()), getattr(b, "free_symbols", set())
    if fa != fb:
        return False
    if not fa:
        return _close(a, b)
    # Expressions: agree at random rational points (and symbolically where evaluation fails).
    rng = random.Random(0)
    syms = sorted(fa, key=str)
    checked = 0
    for _ in range(6):
        point = {s: sympy.Rational(rng.randint(2, 97), rng.randint(2, 13)) for s in syms}
        try:
            va, vb = a.subs(point), b.subs(point)
        except Exception:
            continue
        if va.has(sympy.nan, sympy.zoo) or vb.has(sympy.nan, sympy.zoo):
            continue
        if not _close(va, vb):
            return False
        checked += 1
    if checked >= 3:
        return True
    try:
        return sympy.simplify(a - b) == 0
    except Exception:
        return False


def _simple_relation_set(expr):
    """`x <= 3`, `-1 < x < 4`, `x < -1 or x > 2` with numeric bounds, built directly.

    SymPy's general `as_set` runs a periodicity analysis (tens of ms); these cover most answers.
    """
    import sympy
    from sympy.core.relational import Relational

    if isinstance(expr, (sympy.And, sympy.Or)):
        parts = [_simple_relation_set(a) for a in expr.args]
        if (
            any(p is None for p in parts)
            or len({s for a in expr.args for s in a.free_symbols}) != 1
        ):
            return None
        return sympy.Intersection(*parts) if isinstance(expr, sympy.And) else sympy.Union(*parts)
    if not isinstance(expr, Relational) or isinstance(expr, (sympy.Eq, sympy.Ne)):
        return None
    lhs, rhs, op = expr.lhs, expr.rhs, expr.rel_op
    if isinstance(rhs, sympy.Symbol) and lhs.is_number:
        lhs, rhs, op = rhs, lhs, {"<": ">", "<=": ">=", ">": "<", ">=": "<="}[op]
    if not (isinstance(lhs, sympy.Symbol) and rhs.is_number and rhs.is_real):
        return None
    if op in ("<", "<="):
        return sympy.Interval(-sympy.oo, rhs, True, op == "<")
    return sympy.Interval(rhs, sympy.oo, op == ">", True)


def _as_set(expr):
    """A relation in one variable (x <= 3, -3 < x < 5) as the set it describes, else None."""
    import sympy

    try:
        simple = _simple_relation_set(expr)
        if simple is not None:
            return simple
        if isinstance(expr, (sympy.core.relational.Relational, sympy.And, sympy.Or)):
            free = expr.free_symbols
            if len(free) == 1:
                var = next(iter(free))
                return expr.as_set() if var.is_real is not False else None
    except Exception:
        return None
    return None


def same(g, p) -> bool:
    """Is prediction `p` mathematically the answer `g`? Structure matters; formatting doesn't."""
    # SymPy booleans (interval ends) must not leak out as verdicts: `S.false is False` is False.
    return bool(_same(g, p))


def _same(g, p):
    import sympy
    from sympy.core.relational import Equality, Relational

    is_eq_g, is_eq_p = isinstance(g, Equality), isinstance(p, Equality)
    # x = 3 equals 3; "x \in [2, 5)" equals [2, 5)
    if is_eq_p and not is_eq_g and isinstance(p.lhs, sympy.Symbol):
        return same(g, p.rhs)
    if is_eq_g and not is_eq_p and isinstance(g.lhs, sympy.Symbol):
        return same(g.rhs, p)
    if is_eq_g and is_eq_p:
        if isinstance(g.rhs, sympy.Set) or isinstance(p.rhs, sympy.Set):
            return same(g.rhs, p.rhs)
        return _equations_eq(g, p)
    # Relations against sets: an interval equals the inequality that describes it.
    if isinstance(g, (Relational, sympy.And, sympy.Or)) or isinstance(
        p, (Relational, sympy.And, sympy.Or)
    ):
        gs = _as_set(g) if not isinstance(g, sympy.Set) else g
        ps = _as_set(p) if not isinstance(p, sympy.Set) else p
        if isinstance(p, sympy.Tuple) and len(p) == 2:
            ps = sympy.Interval.open(p[0], p[1])
        if isinstance(g, sympy.Tuple) and len(g) == 2:
            gs = sympy.Interval.open(g[0], g[1])
        if gs is None or ps is None:
            return False
        return same(gs, ps)
    if isinstance(g, sympy.MatrixBase) or isinstance(p, sympy.MatrixBase):
        if (
            not (isinstance(g, sympy.MatrixBase) and isinstance(p, sympy.MatrixBase))
            or g.shape != p.shape
        ):
            return False
        return all(_scalar_eq(x, y) for x, y in zip(g, p, strict=True))
    if isinstance(g, sympy.Tuple) and isinstance(p, sympy.Interval) and len(g) == 2:
        return p.left_open and p.right_open and same(g[0], p.start) and same(g[1], p.end)
    if isinstance(p, sympy.Tuple) and isinstance(g, sympy.Interval) and len(p) == 2:
        return g.left_open and g.right_open and same(g.start, p[0]) and same(g.end, p[1])
    if isinstance(g, sympy.Tuple) or isinstance(p, sympy.Tuple):
        if not (isinstance(g, sympy.Tuple) and isinstance(p, sympy.Tuple)) or len(g) != len(p):
            return False
        return all(same(x, y) for x, y in zip(g, p, strict=True))
    if isinstance(g, sympy.Interval) and isinstance(p, sympy.Interval):
        return (
            g.left_open == p.left_open
            and g.right_open == p.right_open
            and _scalar_eq(g.start, p.start)
            and _scalar_eq(g.end, p.end)
        )
    if isinstance(g, sympy.FiniteSet) and isinstance(p, sympy.FiniteSet):
        return _sets_eq(list(g.args), list(p.args))
    if isinstance(g, sympy.FiniteSet) and len(g.args) == 1:
        return same(g.args[0], p)
    if isinstance(p, sympy.FiniteSet) and len(p.args) == 1:
        return same(g, p.args[0])
    if isinstance(g, sympy.Set) or isinstance(p, sympy.Set):
        if isinstance(g, sympy.Union) and isinstance(p, sympy.Union):
            return _sets_eq(_union_parts(g), _union_parts(p))
        try:
            if g == p:
                return True
            # The same set written two ways (R minus {-4, 6}, and a union of intervals).
            empty = sympy.S.EmptySet
            return sympy.Complement(g, p) == empty and sympy.Complement(p, g) == empty
        except Exception:
            return False
    if isinstance(g, sympy.Basic) and isinstance(p, sympy.Basic):
        return _scalar_eq(g, p)
    return False


def _union_parts(u) -> list:
    """The pieces of a possibly nested, unevaluated Union."""
    import sympy

    out = []
    for a in u.args:
        out.extend(_union_parts(a) if isinstance(a, sympy.Union) else [a])
    return out


def _sets_eq(gs: list, ps: list) -> bool:
    if len(gs) != len(ps):
        return False
    remaining = list(ps)
    for x in gs:
        for i, y in enumerate(remaining):
            if same(x, y):
                del remaining[i]
                break
        else:
            return False
    return True


def _equations_eq(g, p) -> bool:
    """Equivalent equations: lhs - rhs of one is a nonzero constant multiple of the other's."""
    import sympy

    a, b = g.lhs - g.rhs, p.lhs - p.rhs
    if a.free_symbols != b.free_symbols:
        return False
    try:
        ratio = sympy.simplify(a / b)
    except Exception:
        return False
    return bool(ratio.is_number and ratio != 0 and ratio.is_finite)


def _align_angles(gs, g_deg: bool, ps, p_deg: bool):
    """One side in degrees, the other in radians (it has pi): convert the degree side.

    Works element-wise for tuples, so polar coordinates (3, 90 degrees) match (3, pi/2).
    """
    import sympy

    if isinstance(gs, sympy.Tuple) and isinstance(ps, sympy.Tuple) and len(gs) == len(ps):
        pairs = [_align_angles(a, g_deg, b, p_deg) for a, b in zip(gs, ps, strict=True)]
        return sympy.Tuple(*[a for a, _ in pairs]), sympy.Tuple(*[b for _, b in pairs])
    if isinstance(gs, sympy.Expr) and isinstance(ps, sympy.Expr):
        if g_deg and ps.has(sympy.pi) and not gs.has(sympy.pi):
            return _radians(gs), ps
        if p_deg and gs.has(sympy.pi) and not ps.has(sympy.pi):
            return gs, _radians(ps)
    return gs, ps


def _radians(expr):
    import sympy

    return expr * sympy.pi / 180


# ---------------------------------------------------------------------------------------------
# The checker.

_PLACEHOLDER = re.compile(
    r"^\s*(?:\?+|\\?\.\.\.|\\ldots|\\cdots|_+|\\_+|x|n/?a|none|tbd|\\text\{\s*\})\s*$",
    re.IGNORECASE,
)


@lru_cache(maxsize=50_000)
def remembered(gold: str, phrase: str) -> list:
    """The verdict a worker reached for (gold, answer phrase): [correct, reason], or [] until one has.

    Samples of one problem repeat the same final answer; a verdict SymPy reached once (in a worker)
    is reused in the calling thread, without a worker round trip. lru_cache keeps the slots (bounded,
    least recently used out, safe across threads); remember() fills a slot, check() reads it. A
    lookup that misses leaves an empty slot behind: the slow path then fills that same slot, and
    one that never gets a verdict ages out like any other.
    """
    return []


def remember(verdict: Verdict, answer) -> None:
    """Record a slow-path verdict so repeats of the same (gold, answer) take the fast path."""
    if (
        verdict.verifier == NAME
        and verdict.extracted is not None
        and verdict.correct is not None
        and answer is not None
    ):
        remembered(str(answer), verdict.extracted)[:] = [verdict.correct, verdict.reason]


@lru_cache(maxsize=4096)
def _gold(answer: str) -> tuple[Answer, object]:
    """Gold answers repeat across samples of one problem: normalise and parse each once."""
    a = answer.strip()
    spans = boxed_spans(a)
    if spans:
        a = spans[-1][2]
    g = normalize(a)
    return g, fast_value(g.latex)


def _number_list(latex: str) -> tuple[str, list[Fraction]] | None:
    """("set" | "tuple", values) for `1, 2, 3`, `\\{1, 2\\}`, `(3, -1)` of plain numbers, else None."""
    s = latex.strip()
    kind = "set"
    if s.startswith("\\{") and s.endswith("\\}"):
        s = s[2:-2]
    elif s.startswith("(") and s.endswith(")"):
        s, kind = s[1:-1], "tuple"
    if "," not in s or any(c in s for c in "()[]{}"):
        return None
    values = [fast_value(x) for x in s.split(",")]
    if any(v is None for v in values):
        return None
    return kind, values  # type: ignore[return-value]


_RADICAL = re.compile(r"^(-)?\s*(\d+)?\s*\\sqrt\s*\{?\s*(\d+)\s*\}?$")


def _radical_square(latex: str, value: Fraction | None) -> tuple[int, Fraction] | None:
    """(sign, square) of `k\\sqrt{m}` or of a plain number: 3\\sqrt{2} and \\sqrt{18} both give (1, 18)."""
    if value is not None:
        return (1 if value >= 0 else -1), value * value
    m = _RADICAL.match(latex.strip())
    if not m:
        return None
    k = int(m.group(2) or 1)
    return (-1 if m.group(1) else 1), Fraction(k * k * int(m.group(3)))


_PI_MULTIPLE = re.compile(
    r"^(-)?\s*(?:\\frac\s*\{\s*(\d*)\s*\\pi\s*\}\s*\{\s*(\d+)\s*\}|(\d*)\s*\\pi\s*(?:/\s*(\d+))?)$"
)


def _pi_coefficient(latex: str) -> Fraction | None:
    """c for `c\\pi` written as `\\frac{k\\pi}{m}`, `k\\pi/m`, `\\pi`, `-2\\pi`; else None."""
    m = _PI_MULTIPLE.match(latex.strip())
    if not m:
        return None
    num, den = (m.group(2), m.group(3)) if m.group(3) is not None else (m.group(4), m.group(5))
    if den is not None and int(den) == 0:
        return None
    c = Fraction(int(num or 1), int(den or 1))
    return -c if m.group(1) else c


def _pi_multiples(g: Answer, gfast, p: Answer, pfast) -> bool | None:
    """Angles without SymPy: multiples of pi against each other, against degrees, against rationals.

    A nonzero multiple of pi is irrational, so it never equals a rational number (1.047 is not
    pi/3); d degrees is d/180 of pi. None where neither side is a multiple of pi.
    """
    gc, pc = _pi_coefficient(g.latex), _pi_coefficient(p.latex)
    if gc is None and pc is None:
        return None
    if gc is not None and pc is not None:
        return gc == pc and g.degrees == p.degrees
    c, other, other_fast = (gc, p, pfast) if gc is not None else (pc, g, gfast)
    if other_fast is None:
        return None
    if other.degrees:
        return c == other_fast / 180
    return c == 0 and other_fast == 0


_INTERVAL = re.compile(r"^([(\[])\s*([^,]+?)\s*,\s*([^,]+?)\s*([)\]])$")
_INEQ = re.compile(
    r"^(?:([^<>]+?)\s*(<|\\le|\\leq)\s*)?x\s*(<|>|\\le|\\leq|\\ge|\\geq)\s*([^<>]+)$"
)


def _bound(text: str):
    t = text.strip()
    if t in ("\\infty", "+\\infty", "\\infty "):
        return "inf"
    if t == "-\\infty":
        return "-inf"
    return fast_value(t)


def _simple_interval(latex: str):
    """(lo, lo_closed, hi, hi_closed) for `[a, b)`, `(-\\infty, a]`, `x \\le a`, `a < x \\le b`, else None."""
    s = latex.strip()
    if s.startswith("x \\in"):
        s = s[5:].strip()
    m = _INTERVAL.match(s)
    if m:
        lo, hi = _bound(m.group(2)), _bound(m.group(3))
        if lo is None or hi is None:
            return None
        return (lo, m.group(1) == "[", hi, m.group(4) == "]")
    m = _INEQ.match(s)
    if not m:
        return None
    closed = {"<": False, ">": False}
    op = m.group(3)
    rhs = _bound(m.group(4))
    if rhs is None or rhs in ("inf", "-inf"):
        return None
    is_closed = closed.get(op, True)
    if m.group(1) is not None:  # a < x < b
        lo = _bound(m.group(1))
        if lo is None or op not in ("<", "\\le", "\\leq"):
            return None
        return (lo, m.group(2) != "<", rhs, is_closed)
    if op in ("<", "\\le", "\\leq"):
        return ("-inf", False, rhs, is_closed)
    return (rhs, is_closed, "inf", False)


def _same_text(g: Answer, p: Answer) -> bool:
    return g.latex.replace(" ", "") == p.latex.replace(" ", "") and (
        g.percent,
        g.degrees,
        g.unit,
        g.unit_factor,
        g.base,
    ) == (p.percent, p.degrees, p.unit, p.unit_factor, p.base)


# Parsed once when a worker starts: math-verify's ANTLR parser builds its prediction tables on the
# fly, so the first parses of each shape cost ~3x the later ones (16 ms against 5 ms on MATH-500).
WARMUP = [
    "x^2",
    "\\frac{3\\sqrt{2}}{4}",
    "\\left( 3, \\frac{\\pi}{2} \\right)",
    "(-\\infty, -2) \\cup (3, \\infty)",
    "[-2, 7)",
    "\\begin{pmatrix} 1 \\\\ -2 \\end{pmatrix}",
    "\\begin{pmatrix} 1 & 0 \\\\ 0 & -1 \\end{pmatrix}",
    "\\{1, 2\\}",
    "2x^3 - 5x + 1",
    "\\sqrt[3]{2} + 3i",
    "\\log_2 8 + \\sin^2 x",
    "y = -\\frac{1}{2}x + 3",
    "a^2 + b^2 = c^2",
    "\\dfrac{1}{2}\\cdot 10^{5}",
    "|x - 1| \\le 2",
    "\\tan \\frac{\\pi}{12}",
    "2 \\pm \\sqrt{3}",
    "n!",
    "\\binom{10}{3}",
    "0.\\overline{3}",
]


def warm_up() -> None:
    """Parse one answer of each common shape, so a fresh worker's first items parse at full speed."""
    for latex in WARMUP:
        to_sympy(latex)
    to_sympy.cache_clear()


def _compare(g: Answer, gfast, p: Answer, fast_only: bool) -> bool | None:
    """True/False, or None when only the slow path can tell and fast_only is set."""
    if g.base and p.base and g.base != p.base:
        try:
            return int(g.latex, g.base) == int(p.latex, p.base)
        except ValueError:
            return False
    pfast = fast_value(p.latex)
    if (g.base or p.base) and re.fullmatch(r"[0-9A-Fa-f]+", g.latex + p.latex):
        return g.latex.lstrip("0").upper() == p.latex.lstrip("0").upper()  # digits in one base
    if gfast is not None and pfast is not None:
        return _numbers_match(g, gfast, p, pfast)
    if not (g.percent or p.percent or g.unit or p.unit):
        gl, pl = _number_list(g.latex), _number_list(p.latex)
        if gl and pl:
            if gl[0] == "tuple" and pl[0] == "tuple":
                return gl[1] == pl[1]
            if gl[0] == pl[0] == "set" or "tuple" not in (gl[0], pl[0]):
                return sorted(gl[1]) == sorted(pl[1])
        elif gl and gfast is None and pfast is not None:
            return False  # one number against a list: a missing element
        gr, pr = _radical_square(g.latex, gfast), _radical_square(p.latex, pfast)
        if gr and pr:
            return gr == pr
        angle = _pi_multiples(g, gfast, p, pfast)
        if angle is not None:
            return angle
        gi, pi_ = _simple_interval(g.latex), _simple_interval(p.latex)
        if gi and pi_:
            # Infinite ends are open whatever bracket was written.
            norm = lambda t: (t[0], t[1] and t[0] != "-inf", t[2], t[3] and t[2] != "inf")  # noqa: E731
            return norm(gi) == norm(pi_)
    if g.text is not None or p.text is not None:
        if g.text is not None and p.text is not None:
            return p.text == g.text
        raise Abstain("a word answer against a formula: needs the judge")
    if g.fvar and p.fvar and g.fvar != p.fvar:
        raise Abstain(
            f"functions defined in different variables ({g.fvar}, {p.fvar}): needs the judge"
        )
    if _same_text(g, p):
        return True  # the gold as written (spacing aside): no parse needed to know it is equal
    plain = not (g.percent or p.percent or g.unit or p.unit or g.degrees or p.degrees)
    if plain and not (g.base or p.base) and numeric.differ(g.latex, p.latex):
        return False  # provably another value (a near miss, usually), without SymPy
    if fast_only:
        return None
    gs, ps = to_sympy(g.latex), to_sympy(p.latex)
    if gs is None:
        raise Abstain("gold answer could not be parsed")
    if ps is None:
        raise Abstain("answer could not be parsed")
    if g.unit and p.unit:
        if g.unit != p.unit:
            return False
        gs, ps = gs * g.unit_factor, ps * p.unit_factor
    # Angles: degrees against radians when one side says degrees and the other uses pi.
    import sympy

    if g.degrees != p.degrees:
        gs, ps = _align_angles(gs, g.degrees, ps, p.degrees)
    if (g.percent or p.percent) and isinstance(gs, sympy.Expr) and isinstance(ps, sympy.Expr):
        return _percent_match(g, gs, p, ps, same)
    return same(gs, ps)


def check(
    completion: str, answer, finish_reason: str | None = "stop", fast_only: bool = False
) -> Verdict | None:
    """Judge one math completion. With fast_only, return None where SymPy would be needed."""

    def verdict(correct, extracted=None, reason=""):
        return Verdict(
            correct=correct, extracted=extracted, reason=reason, verifier=NAME, version=VERSION
        )

    if answer is None or not str(answer).strip():
        return verdict(None, reason="no gold answer")
    region, why = answer_region(completion, finish_reason)
    if region is None:
        return verdict(False, reason=why)
    phrase, how = final_answer(plain_math(region))
    if phrase is None:
        return verdict(False, reason=how)
    if _PLACEHOLDER.match(phrase) or "\\boxed{}" in phrase:
        return verdict(False, phrase, "placeholder final answer")
    if fast_only:
        seen = remembered(str(answer), phrase)
        if seen:
            return verdict(seen[0], phrase, seen[1])
        if len(phrase) > 300:
            return None  # long phrases go to a worker, where a runaway regex or parse can be killed
    g, gfast = _gold(str(answer))
    p = normalize(phrase)
    if not p.latex.strip(" {}\\") and p.text is None:
        return verdict(False, phrase, "placeholder final answer")
    try:
        result = _compare(g, gfast, p, fast_only)
    except (Abstain, ValueError) as e:
        return verdict(None, phrase, str(e))
    if result is None:
        return None
    return verdict(result, phrase, f"{'match' if result else 'mismatch'} ({how})")
