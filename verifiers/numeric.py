"""A cheap proof that two simple answers differ, before SymPy is asked.

Most wrong answers in a rollout store are near misses of the gold (a number off by one, a sign),
and proving that two expressions differ is far cheaper than parsing both with math-verify's ANTLR
parser (~5-15 ms each). This module reads a small subset of LaTeX (numbers, + - * / ^, fractions,
roots, pi, single-letter variables, implicit products), evaluates both sides with mpmath at random
points, and says "different" only when the difference is nonzero and stable across two precisions
(40 and 80 digits), so cancellation can never fake one. It never says "equal": equality stays with
the exact comparison. Anything outside the subset (functions, subscripts, commas, relations, mixed
numbers like `2\\frac{1}{2}`) gives no decision. Matrices are compared entry by entry.

Why a letter may take any value: a difference found at one point (x = 37/11, i = the imaginary
unit, e = Euler's number) is a difference of the two expressions under any reading in which that
letter is a variable, and under the reading where it is that constant; so `i` and `e` need no
guess about what the writer meant.
"""

from __future__ import annotations

import random
import re
import threading

_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d+)?|\.\d+)|(?P<cmd>\\[A-Za-z]+)|(?P<var>[A-Za-z])|(?P<op>[-+*/^(){}\[\]]))"
)
_COMMANDS = {"\\frac", "\\sqrt", "\\pi", "\\cdot", "\\times", "\\div"}
_CONSTANTS = {"i", "e"}  # evaluated as the imaginary unit and Euler's number (see the docstring)


class _NoDecision(Exception):
    pass


def _tokens(latex: str) -> list[tuple[str, str]]:
    out, pos, s = [], 0, latex.strip()
    while pos < len(s):
        m = _TOKEN.match(s, pos)
        if not m or m.end() == pos:
            raise _NoDecision
        kind = m.lastgroup
        value = m.group(kind)
        if kind == "cmd" and value not in _COMMANDS:
            raise _NoDecision
        out.append((kind, value))
        pos = m.end()
    return out


class _Parser:
    """Recursive descent over the tokens into nested tuples: ("num", str) | ("var", name) |
    ("pi",) | (op, left, right) | ("neg", x) | ("sqrt", x, index or None)."""

    def __init__(self, tokens):
        self.t, self.i = tokens, 0

    def peek(self):
        return self.t[self.i] if self.i < len(self.t) else (None, None)

    def take(self, value=None):
        tok = self.peek()
        if tok[0] is None or (value is not None and tok[1] != value):
            raise _NoDecision
        self.i += 1
        return tok

    def parse(self):
        node = self.expr()
        if self.i != len(self.t):
            raise _NoDecision
        return node

    def expr(self):
        node = self.term()
        while self.peek()[1] in ("+", "-"):
            op = self.take()[1]
            node = (op, node, self.term())
        return node

    def term(self):
        node = self.factor()
        divided = False
        while True:
            kind, value = self.peek()
            if value in ("*", "/", "\\cdot", "\\times", "\\div"):
                self.take()
                divided |= value in ("/", "\\div")
                node = ("/" if value in ("/", "\\div") else "*", node, self.factor())
            elif kind in ("num", "var") or value in ("\\frac", "\\sqrt", "\\pi", "(", "{"):
                if value == "\\frac" and node[0] == "num":
                    raise _NoDecision  # 2\frac{1}{2}: a mixed number or a product; not ours to say
                if divided:
                    raise _NoDecision  # 1/2x: (1/2)x or 1/(2x)? readers differ
                node = ("*", node, self.factor())
            else:
                return node

    def factor(self):
        if self.peek()[1] in ("-", "+"):
            sign = self.take()[1]
            inner = self.factor()
            return ("neg", inner) if sign == "-" else inner
        base = self.atom()
        if self.peek()[1] == "^":
            self.take()
            if self.peek()[1] == "{":
                exp = self.group()
            else:
                kind, value = self.take()
                if kind == "num" and len(value) > 1:
                    raise _NoDecision  # x^23 is x^{2}3 in LaTeX; too easy to misread
                exp = ("num", value) if kind == "num" else ("var", value)
            return ("^", base, exp)
        return base

    def group(self):
        """A `{...}` group, or a single digit or letter (`\\frac12`)."""
        kind, value = self.peek()
        if value == "{":
            self.take()
            node = self.expr()
            self.take("}")
            return node
        if kind == "num" and "." not in value:
            self.take()
            if len(value) > 1:  # \frac 59: the 5 now, the 9 next
                self.t.insert(self.i, ("num", value[1:]))
            return ("num", value[0])
        if kind == "var":
            self.take()
            return ("var", value)
        raise _NoDecision

    def atom(self):
        kind, value = self.take()
        if kind == "num":
            return ("num", value)
        if kind == "var":
            return ("var", value)
        if value == "\\pi":
            return ("pi",)
        if value in ("(", "{"):
            node = self.expr()
            self.take(")" if value == "(" else "}")
            return node
        if value == "\\frac":
            return ("/", self.group(), self.group())
        if value == "\\sqrt":
            index = None
            if self.peek()[1] == "[":
                self.take()
                index = self.expr()
                self.take("]")
            return ("sqrt", self.group(), index)
        raise _NoDecision


def _variables(node) -> set[str]:
    if node[0] == "var":
        return {node[1]} - _CONSTANTS
    return set().union(*(_variables(c) for c in node[1:] if isinstance(c, tuple)))


def _evaluate(node, point, mp):
    op = node[0]
    if op == "num":
        return mp.mpf(node[1])
    if op == "var":
        if node[1] in point:
            return point[node[1]]
        return mp.mpc(0, 1) if node[1] == "i" else +mp.e
    if op == "pi":
        return +mp.pi
    if op == "neg":
        return -_evaluate(node[1], point, mp)
    if op == "sqrt":
        x = _evaluate(node[1], point, mp)
        if node[2] is None:
            return mp.sqrt(x)
        n = _evaluate(node[2], point, mp)
        if not isinstance(x, type(mp.mpf(0))) or x < 0 or n != int(n) or n < 1:
            raise _NoDecision  # odd roots of negatives: real or principal? not ours to say
        return mp.root(x, int(n))
    a, b = _evaluate(node[1], point, mp), _evaluate(node[2], point, mp)
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        if b == 0:
            raise _NoDecision
        return a / b
    if op == "^":
        if abs(b) > 10_000:
            raise _NoDecision
        return mp.power(a, b)
    raise _NoDecision


def parse(latex: str):
    """The expression tree of `latex`, or None outside the subset."""
    try:
        return _Parser(_tokens(latex)).parse()
    except (_NoDecision, RecursionError):
        return None


_LOCAL = threading.local()


def _contexts():
    """Two mpmath contexts (40 and 80 digits) per thread: the global one is shared state."""
    if not hasattr(_LOCAL, "contexts"):
        import mpmath

        _LOCAL.contexts = []
        for dps in (40, 80):
            ctx = mpmath.MPContext()
            ctx.dps = dps
            _LOCAL.contexts.append(ctx)
    return _LOCAL.contexts


_MATRIX = re.compile(r"^\\begin\{([pbvB]?matrix)\}(.*)\\end\{\1\}$", re.DOTALL)


def _matrix(latex: str) -> list[list[str]] | None:
    m = _MATRIX.match(latex.strip())
    if not m:
        return None
    rows = m.group(2).split(chr(92) * 2)  # rows end at a double backslash
    return [[c.strip() for c in row.split("&")] for row in rows if row.strip()]


def _plus_minus(latex: str) -> tuple[str, str] | None:
    """`a \\pm b` as its two values, written out; None for anything else."""
    parts = latex.split("\\pm")
    if len(parts) != 2 or not parts[1].strip():
        return None
    a, b = parts[0].strip() or "0", parts[1].strip()
    return f"({a})+({b})", f"({a})-({b})"


def _equation(latex: str):
    """`A = B` as the tree of A - B (an equation is the same as any nonzero multiple of it)."""
    sides = latex.split("=")
    if len(sides) != 2 or re.search(r"[<>]|\\[lg]e|\\neq", latex):
        return None
    a, b = parse(sides[0]), parse(sides[1])
    return None if a is None or b is None else ("-", a, b)


_FAILED = (_NoDecision, ZeroDivisionError, OverflowError, ValueError, TypeError)


def _at_points(g, p, names: set[str], seed: int):
    """For each of two random points: [(g, p) at 40 digits, (g, p) at 80 digits]."""
    rng = random.Random(seed)
    for _ in range(2):
        point_values = {v: (rng.randint(11, 97), rng.randint(3, 29)) for v in sorted(names)}
        per_ctx = []
        for ctx in _contexts():
            point = {v: ctx.mpf(a) / b for v, (a, b) in point_values.items()}
            per_ctx.append((_evaluate(g, point, ctx), _evaluate(p, point, ctx)))
        yield per_ctx


def _finite(x) -> bool:
    return bool(_contexts()[1].isfinite(x))


def _stable_gap(d40, d80, scale) -> bool:
    """Nonzero at 80 digits, well above what cancellation could leave, and the same at 40."""
    ctx = _contexts()[1]
    return bool(d80 > scale * ctx.mpf(10) ** -25 and abs(d40 - d80) <= d80 * ctx.mpf(10) ** -10)


def _not_proportional(g, p) -> bool:
    """Two equations differ when g/p takes two stably different values (x = 2y+3 vs x = 2y+4)."""
    names = _variables(g)
    if not names or names != _variables(p):
        return False
    try:
        values = list(_at_points(g, p, names, seed=1))
        if any(b == 0 for per_ctx in values for _, b in per_ctx):
            return False
        (r40, r80), (s40, s80) = ([a / b for a, b in per_ctx] for per_ctx in values)
    except _FAILED:
        return False
    return _stable_gap(abs(r40 - s40), abs(r80 - s80), max(abs(r80), abs(s80)))


def differ(gold_latex: str, answer_latex: str) -> bool:
    """True only when the two are provably different values; False means "no decision"."""
    gm, pm = _matrix(gold_latex), _matrix(answer_latex)
    if gm is not None or pm is not None:
        if gm is None or pm is None:
            return False
        if [len(r) for r in gm] != [len(r) for r in pm]:
            return True  # another shape
        return any(
            differ(a, b) for ra, rb in zip(gm, pm, strict=True) for a, b in zip(ra, rb, strict=True)
        )
    gpm, ppm = _plus_minus(gold_latex), _plus_minus(answer_latex)
    if gpm and ppm:
        # {a+b, a-b} against {c+d, c-d}: different when neither pairing can be matched.
        (g1, g2), (p1, p2) = gpm, ppm
        return (differ(g1, p1) or differ(g2, p2)) and (differ(g1, p2) or differ(g2, p1))
    geq, peq = _equation(gold_latex), _equation(answer_latex)
    if geq is not None or peq is not None:
        return geq is not None and peq is not None and _not_proportional(geq, peq)
    g, p = parse(gold_latex), parse(answer_latex)
    if g is None or p is None:
        return False
    names = _variables(g)
    if names != _variables(p):
        return False  # other variables: a question of structure, for the exact comparison
    try:
        for (a40, b40), (a80, b80) in _at_points(g, p, names, seed=0):
            scale = max(abs(a80), abs(b80))
            if scale == 0 or not (_finite(a80 - b80) and _finite(scale)):
                continue
            if _stable_gap(abs(a40 - b40), abs(a80 - b80), scale):
                return True
    except _FAILED:
        return False
    return False
