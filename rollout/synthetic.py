"""Synthetic math problems with exact gold answers, deterministic by seed, at difficulty 1 to 3.

Six generators (a plain dict, `GENERATORS`): arithmetic, fractions, percentages, linear_equations,
modular and word_problems. Level 1 is two small numbers, so a 135M-parameter model can get some
right; levels 2 and 3 add steps, larger numbers, negatives and fractions. Every answer is computed
with `fractions.Fraction` and written the way a dataset stores it ("19", "\\frac{7}{12}", "37.5"),
so the verifier judges rollouts on these problems exactly.

    from rollout.synthetic import generate
    problems = generate(["arithmetic", "fractions"], count=100, difficulty=[1], seed=0)
    problems[0]["prompt"], problems[0]["answer"]     # a question like "What is 7 + 12?" and "19"

`generate` returns Problem records (DESIGN.md "Records"). Problem i takes generator i mod G and
then the next difficulty every G problems, so any 3*G problems in a row cover every pair. A
problem's text is a function of its id alone (generator, difficulty, seed, index): the same call
always gives the same list, and generate(count=10) is a prefix of generate(count=20).

To add a generator, write `fn(rng, difficulty) -> {"prompt", "answer", "meta"?}` and add it to
GENERATORS; tests/test_synthetic.py checks every entry against the verifier.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from fractions import Fraction
from math import gcd

LEVELS = (1, 2, 3)


# ---------------------------------------------------------------------------------------------
# Answer formatting: one exact value, one canonical string.


def latex_number(q: Fraction | int) -> str:
    """An exact rational as MATH writes it: "7", "-3", "\\frac{3}{4}", "-\\frac{5}{2}"."""
    q = Fraction(q)
    if q.denominator == 1:
        return str(q.numerator)
    sign = "-" if q < 0 else ""
    return f"{sign}\\frac{{{abs(q.numerator)}}}{{{q.denominator}}}"


def decimal_number(q: Fraction | int) -> str:
    """An exact rational as a terminating decimal: "12", "37.5", "-0.125".

    Raises ValueError when the denominator has a prime factor other than 2 and 5, because such a
    value has no exact decimal and a rounded gold answer would mark right rollouts wrong.
    """
    q = Fraction(q)
    rest = q.denominator
    for p in (2, 5):
        while rest % p == 0:
            rest //= p
    if rest != 1:
        raise ValueError(f"{q} has no terminating decimal")
    places = 0
    while 10**places % q.denominator:
        places += 1
    digits = str(abs(q.numerator) * 10**places // q.denominator).rjust(places + 1, "0")
    sign = "-" if q < 0 else ""
    if places == 0:
        return sign + digits
    return f"{sign}{digits[:-places]}.{digits[-places:]}"


# ---------------------------------------------------------------------------------------------
# Expression trees for arithmetic and fractions. A tree is a leaf Fraction or (op, left, right)
# with op in "+-*": no division, so no tree can divide by zero and every value is exact.

_PRECEDENCE = {"+": 1, "-": 1, "*": 2}


def _tree(rng: random.Random, leaves: list[Fraction], ops: str):
    if len(leaves) == 1:
        return leaves[0]
    k = rng.randint(1, len(leaves) - 1)
    return (rng.choice(ops), _tree(rng, leaves[:k], ops), _tree(rng, leaves[k:], ops))


def _value(e) -> Fraction:
    if not isinstance(e, tuple):
        return e
    op, a, b = e
    a, b = _value(a), _value(b)
    return a + b if op == "+" else a - b if op == "-" else a * b


def _show(e, leaf: Callable[[Fraction], str]) -> str:
    """Infix text with parentheses only where precedence needs them, as a person would write it."""
    if not isinstance(e, tuple):
        return leaf(e)
    op, a, b = e
    left, right = _show(a, leaf), _show(b, leaf)
    if isinstance(a, tuple) and _PRECEDENCE[a[0]] < _PRECEDENCE[op]:
        left = f"({left})"
    # a - (b + c) and a - (b - c) need them too; a + (b - c) and a * (b * c) do not.
    if isinstance(b, tuple) and (
        _PRECEDENCE[b[0]] < _PRECEDENCE[op] or (op == "-" and _PRECEDENCE[b[0]] == 1)
    ):
        right = f"({right})"
    return f"{left} {op} {right}"


def _integer_text(q: Fraction) -> str:
    return str(q.numerator)


def _fraction_text(q: Fraction) -> str:
    return f"{q.numerator}/{q.denominator}"


# ---------------------------------------------------------------------------------------------
# Generators: fn(rng, difficulty) -> {"prompt", "answer", "meta"?}.


def arithmetic(rng: random.Random, difficulty: int) -> dict:
    """Level 1: two numbers up to 20 (factors up to 12) with + - *; the difference is never
    negative. Level 2: three numbers up to 20, result at most 1000 in size; level 3: four numbers
    up to 30, result at most 10000. Levels 2 and 3 always have parentheses."""
    if difficulty == 1:
        op = rng.choice("+-*")
        hi = 12 if op == "*" else 20
        a, b = rng.randint(2 if op == "*" else 1, hi), rng.randint(2 if op == "*" else 1, hi)
        if op == "-" and a < b:
            a, b = b, a
        expr = (op, Fraction(a), Fraction(b))
    else:
        n, hi, limit = (3, 20, 1000) if difficulty == 2 else (4, 30, 10000)
        while True:
            expr = _tree(rng, [Fraction(rng.randint(2, hi)) for _ in range(n)], "+-*")
            if "(" in _show(expr, _integer_text) and abs(_value(expr)) <= limit:
                break
    text = _show(expr, _integer_text)
    prompt = rng.choice(["What is {}?", "Calculate {}.", "Compute {}."]).format(text)
    return {"prompt": prompt, "answer": latex_number(_value(expr))}


def _fraction_leaf(rng: random.Random, max_den: int, improper: bool) -> Fraction:
    while True:
        d = rng.randint(2, max_den)
        q = Fraction(rng.randint(1, 2 * d if improper else d - 1), d)
        if q.denominator > 1:  # 4/2 would show as an integer
            return q


def fractions(rng: random.Random, difficulty: int) -> dict:
    """Level 1: add or subtract two proper fractions with denominators up to 6 (never negative).
    Level 2: two fractions up to twelfths, improper allowed, with + - *. Level 3: three of them."""
    if difficulty == 1:
        while True:
            a, b = _fraction_leaf(rng, 6, False), _fraction_leaf(rng, 6, False)
            if a != b:
                break
        op = rng.choice("+-")
        if op == "-" and a < b:
            a, b = b, a
        expr = (op, a, b)
    elif difficulty == 2:
        expr = (rng.choice("+-*"), _fraction_leaf(rng, 12, True), _fraction_leaf(rng, 12, True))
    else:
        expr = _tree(rng, [_fraction_leaf(rng, 12, True) for _ in range(3)], "+-*")
    text = _show(expr, _fraction_text)
    prompt = rng.choice(["What is {}?", "Compute {}."]).format(text)
    return {"prompt": prompt, "answer": latex_number(_value(expr))}


def _whole_percent(rng: random.Random) -> tuple[int, int, int]:
    """(p, a, b) with a = p% of b, all whole numbers: b is a multiple of 100 / gcd(p, 100)."""
    p = rng.randint(1, 99)
    b = 100 // gcd(p, 100) * rng.randint(1, 4)
    return p, p * b // 100, b


def percentages(rng: random.Random, difficulty: int) -> dict:
    """Level 1: 10, 20, 25 or 50% of a multiple of 20. Level 2: any whole percent of a number up to
    400 (a decimal answer), or what percent a is of b (whole). Level 3: percent change, a price
    after a rise or discount, or what percent a is of b as a decimal. Answers terminate."""
    if difficulty == 1:
        p, n = rng.choice([10, 20, 25, 50]), 20 * rng.randint(1, 10)
        return {
            "prompt": f"What is {p}% of {n}?",
            "answer": decimal_number(Fraction(p * n, 100)),
            "meta": {"form": "part"},
        }
    form = rng.choice(["part", "percent"] if difficulty == 2 else ["percent", "change", "price"])
    if form == "part":
        p, n = rng.randint(1, 99), rng.randint(2, 400)
        prompt, value = f"What is {p}% of {n}?", Fraction(p * n, 100)
    elif form == "percent" and difficulty == 2:
        p, a, b = _whole_percent(rng)
        prompt = rng.choice(["What percent of {b} is {a}?", "{a} is what percent of {b}?"])
        prompt, value = prompt.format(a=a, b=b), Fraction(p)
    elif form == "percent":
        # b = 2^i 5^j makes a / b * 100 a terminating decimal.
        b = rng.choice([8, 16, 32, 40, 80, 125, 160, 250])
        a = rng.randint(1, b - 1)
        prompt, value = f"What percent of {b} is {a}?", Fraction(100 * a, b)
    elif form == "change":
        p, a, b = _whole_percent(rng)
        if rng.random() < 0.5:
            prompt = f"A number increases from {b} to {b + a}. By what percent did it increase?"
        else:
            prompt = f"A number decreases from {b} to {b - a}. By what percent did it decrease?"
        value = Fraction(p)
    else:
        price, p = rng.randint(10, 400), 5 * rng.randint(1, 12)
        if rng.random() < 0.5:
            prompt = f"A price of ${price} rises by {p}%. What is the new price in dollars?"
            value = Fraction(price * (100 + p), 100)
        else:
            prompt = (
                f"A ${price} jacket is on sale for {p}% off. What is the sale price in dollars?"
            )
            value = Fraction(price * (100 - p), 100)
    return {"prompt": prompt, "answer": decimal_number(value), "meta": {"form": form}}


def _linear(a: int, b: int) -> str:
    """ax + b as written by hand: "3x + 7", "-x - 4", "2x", "x"."""
    x = "x" if a == 1 else "-x" if a == -1 else f"{a}x"
    if b == 0:
        return x
    return f"{x} {'+' if b > 0 else '-'} {abs(b)}"


def linear_equations(rng: random.Random, difficulty: int) -> dict:
    """Level 1: ax + b = c with small positive numbers and x a whole number up to 10. Level 2:
    negatives, x an integer. Level 3: x on both sides, x often a fraction."""
    if difficulty == 1:
        a, x, b = rng.randint(1, 5), rng.randint(0, 10), rng.randint(0, 20)
        if a == 1 and b == 0:  # "x = 7" is no question
            b = rng.randint(1, 20)
        eq, value = f"{_linear(a, b)} = {a * x + b}", Fraction(x)
    elif difficulty == 2:
        a = rng.choice([-1, 1]) * rng.randint(2, 9)
        x, b = rng.randint(-10, 10), rng.randint(-20, 20)
        eq, value = f"{_linear(a, b)} = {a * x + b}", Fraction(x)
    else:
        while True:
            a, c = rng.randint(-9, 9), rng.randint(-9, 9)
            b, d = rng.randint(-20, 20), rng.randint(-20, 20)
            if a and c and a != c:
                break
        eq, value = f"{_linear(a, b)} = {_linear(c, d)}", Fraction(d - b, a - c)
    return {"prompt": f"Solve for x: {eq}.", "answer": latex_number(value)}


def modular(rng: random.Random, difficulty: int) -> dict:
    """Level 1: the remainder of a two-digit number divided by 2..9. Level 2: (a * b + c) mod m or
    a small power mod m. Level 3: a^k mod m with k up to 99, or (a * b + c) mod m with 3-digit
    a and b."""
    if difficulty == 1:
        x, m = rng.randint(10, 99), rng.randint(2, 9)
        text, value = str(x), x % m
    elif rng.random() < 0.5:
        hi = 30 if difficulty == 2 else 999
        a, b, c = rng.randint(2, hi), rng.randint(2, hi), rng.randint(0, hi)
        m = rng.randint(3, 20 if difficulty == 2 else 50)
        text, value = f"({a} * {b} + {c})", (a * b + c) % m
    else:
        a = rng.randint(2, 9 if difficulty == 2 else 20)
        k = rng.randint(2, 4) if difficulty == 2 else rng.randint(10, 99)
        m = rng.randint(3, 15 if difficulty == 2 else 50)
        text, value = f"{a}^{k}", pow(a, k, m)
    if rng.random() < 0.5:
        prompt = f"What is {text} mod {m}?"
    else:
        prompt = f"What is the remainder when {text.strip('()')} is divided by {m}?"
    return {"prompt": prompt, "answer": str(value)}


_NAMES = ["Maya", "Liam", "Ava", "Noah", "Sofia", "Omar", "Lena", "Ravi", "Zoe", "Kenji"]
_GOODS = ["notebooks", "pens", "apples", "tickets", "sandwiches", "books", "candles", "mugs"]
_THINGS = ["cookies", "stickers", "marbles", "pencils", "cards", "grapes"]


def _shopping(rng: random.Random, difficulty: int) -> tuple[str, int]:
    name = rng.choice(_NAMES)
    first, second = rng.sample(_GOODS, 2)
    if difficulty == 1:
        n, price = rng.randint(2, 5), rng.randint(1, 5)
        return (
            f"{name} buys {n} {first} for ${price} each. How many dollars does {name} spend?",
            n * price,
        )
    n1, c1, n2, c2 = rng.randint(2, 6), rng.randint(2, 12), rng.randint(2, 6), rng.randint(2, 12)
    total = n1 * c1 + n2 * c2
    text = f"{name} buys {n1} {first} at ${c1} each and {n2} {second} at ${c2} each."
    if difficulty == 2:
        return f"{text} How many dollars does {name} spend in total?", total
    bill = rng.choice([b for b in (50, 100, 200) if b >= total])
    return (
        f"{text} {name} pays with a ${bill} bill. How many dollars of change does {name} get?",
        bill - total,
    )


def _travel(rng: random.Random, difficulty: int) -> tuple[str, int]:
    vehicle = rng.choice(["car", "train", "bus", "truck"])
    if difficulty == 1:
        s, t = 10 * rng.randint(1, 6), rng.randint(1, 5)
        hours = "hour" if t == 1 else "hours"
        return (
            f"A {vehicle} travels at {s} miles per hour for {t} {hours}. "
            "How many miles does it travel?",
            s * t,
        )
    if difficulty == 2:
        s, t = 5 * rng.randint(2, 16), rng.randint(2, 6)
        if rng.random() < 0.5:
            return (
                f"A {vehicle} travels {s * t} kilometers in {t} hours. "
                "What is its average speed in kilometers per hour?",
                s,
            )
        return (
            f"A {vehicle} travels {s * t} kilometers at {s} kilometers per hour. "
            "How many hours does the trip take?",
            t,
        )
    # Two legs whose average speed is whole: s2 * t2 = -s1 * t1 (mod t1 + t2) always has solutions
    # because gcd(t2, t1 + t2) = gcd(t1, t2) divides s1 * t1.
    t1, t2, s1 = rng.randint(1, 4), rng.randint(1, 4), 5 * rng.randint(2, 12)
    s2 = rng.choice([s for s in range(10, 91) if (s1 * t1 + s * t2) % (t1 + t2) == 0 and s != s1])
    h1, h2 = ("hour" if t == 1 else "hours" for t in (t1, t2))
    return (
        f"A {vehicle} travels for {t1} {h1} at {s1} kilometers per hour, then for {t2} {h2} at "
        f"{s2} kilometers per hour. "
        "What is its average speed for the whole trip in kilometers per hour?",
        (s1 * t1 + s2 * t2) // (t1 + t2),
    )


def _sharing(rng: random.Random, difficulty: int) -> tuple[str, int]:
    name, thing = rng.choice(_NAMES), rng.choice(_THINGS)
    if difficulty == 1:
        k, each = rng.randint(2, 6), rng.randint(2, 10)
        return (
            f"{k * each} {thing} are shared equally among {k} friends. "
            f"How many {thing} does each friend get?",
            each,
        )
    if difficulty == 2:
        while True:
            boxes, per = rng.randint(2, 8), rng.randint(6, 24)
            ks = [k for k in range(3, 16) if boxes * per % k == 0 and k != boxes]
            if ks:
                break
        k = rng.choice(ks)
        return (
            f"{name} has {boxes} boxes with {per} {thing} in each box and shares all of them "
            f"equally among {k} children. How many {thing} does each child get?",
            boxes * per // k,
        )
    k, each, keep = rng.randint(3, 9), rng.randint(3, 15), rng.randint(2, 12)
    if rng.random() < 0.5:
        return (
            f"{name} has {k * each + keep} {thing}, keeps {keep}, and shares the rest equally "
            f"among {k} friends. How many {thing} does each friend get?",
            each,
        )
    left = rng.randint(1, k - 1)
    return (
        f"{name} shares {k * each + left} {thing} equally among {k} friends, giving each friend "
        f"as many as possible. How many {thing} are left over?",
        left,
    )


_TEMPLATES = {"shopping": _shopping, "travel": _travel, "sharing": _sharing}


def word_problems(rng: random.Random, difficulty: int) -> dict:
    """Templated stories with whole-number answers: shopping totals and change, speed, distance
    and time, and sharing equally (with leftovers at level 3)."""
    template = rng.choice(list(_TEMPLATES))
    prompt, value = _TEMPLATES[template](rng, difficulty)
    return {"prompt": prompt, "answer": str(value), "meta": {"template": template}}


GENERATORS: dict[str, Callable[[random.Random, int], dict]] = {
    "arithmetic": arithmetic,
    "fractions": fractions,
    "percentages": percentages,
    "linear_equations": linear_equations,
    "modular": modular,
    "word_problems": word_problems,
}


# ---------------------------------------------------------------------------------------------


def generate(
    generators: list[str] | None = None,
    count: int = 100,
    difficulty: list[int] | None = None,
    seed: int = 0,
) -> list[dict]:
    """Make `count` Problem records, cycling through generators, then difficulties.

    Args:
        generators: names in GENERATORS (a single name is accepted too); None means all of them.
        count: how many problems.
        difficulty: levels from 1 (easiest) to 3; None means [1, 2, 3].
        seed: changes every problem; the same seed gives the same problems.

    Returns:
        Problem records with problem_id, prompt, answer, kind="math", source="synthetic" and
        meta={"generator", "difficulty", ...}.

    Raises:
        ValueError: an unknown generator name, a level outside 1..3, or a negative count.
    """
    if generators is None:
        generators = list(GENERATORS)
    if difficulty is None:
        difficulty = list(LEVELS)
    names = [generators] if isinstance(generators, str) else list(generators)
    levels = [difficulty] if isinstance(difficulty, int) else list(difficulty)
    if not names or not levels:
        raise ValueError(
            f"generators and difficulty must not be empty (None means all); "
            f"known generators: {', '.join(GENERATORS)}; levels: 1, 2, 3"
        )
    unknown = [n for n in names if n not in GENERATORS]
    if unknown:
        raise ValueError(
            f"unknown generator {', '.join(map(repr, unknown))}; "
            f"known generators: {', '.join(GENERATORS)}"
        )
    bad = [d for d in levels if isinstance(d, bool) or d not in LEVELS]
    if bad:
        raise ValueError(f"difficulty must be 1, 2 or 3, got {', '.join(map(repr, bad))}")
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")

    problems = []
    for i in range(count):
        name = names[i % len(names)]
        level = levels[(i // len(names)) % len(levels)]
        problem_id = f"syn-{name}-d{level}-s{seed}-{i:06d}"
        # Seeding with the id (str seeds are hashed with SHA-512, not hash()) makes the text a
        # function of the id alone: stable across processes and independent of count.
        made = GENERATORS[name](random.Random(problem_id), level)
        meta = {"generator": name, "difficulty": level}
        assert not meta.keys() & made.get("meta", {}).keys(), made
        problems.append(
            {
                "problem_id": problem_id,
                "prompt": made["prompt"],
                "answer": made["answer"],
                "kind": "math",
                "source": "synthetic",
                "meta": {**meta, **made.get("meta", {})},
            }
        )
    return problems
