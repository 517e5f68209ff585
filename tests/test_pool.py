"""verify_batch: input order, nothing lost, timeouts kill only their item, safe from threads."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import verifiers
from verifiers import VERIFIERS, Verdict, verify, verify_batch
from verifiers.pool import VerifierPool

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from bench_verify import HOSTILE as HOSTILE_MATH  # noqa: E402  (one list for the test and the benchmark)


def test_every_kind_resolves():
    for kind, fn in VERIFIERS.items():
        assert callable(fn), kind
        assert isinstance(
            verify("Answer: A", "A", kind=kind, **({"time_limit": 1} if kind == "code" else {})),
            Verdict,
        )


def test_order_and_count_preserved_with_mixed_kinds():
    items = []
    for i in range(60):
        items.append({"completion": f"\\boxed{{{i}}}", "answer": str(i), "kind": "math"})
        items.append(
            {"completion": f"\\boxed{{\\sqrt{{{i * i}}}}}", "answer": str(i), "kind": "math"}
        )
        items.append({"completion": "Answer: B", "answer": "B" if i % 2 else "C", "kind": "choice"})
    vs = verify_batch(items, workers=2)
    assert len(vs) == len(items)
    for i in range(60):
        assert vs[3 * i].correct is True and vs[3 * i].extracted == str(i)
        assert vs[3 * i + 1].correct is True
        assert vs[3 * i + 2].correct is (i % 2 == 1)


def test_hostile_math_returns_within_limit_plus_one_second():
    limit = 2.0
    # Start the pool first (workers import and warm up once per process): the bound is per item.
    verify_batch([{"completion": "\\boxed{\\log_2 8}", "answer": "3"}], workers=1)
    for name, completion in HOSTILE_MATH.items():
        start = time.monotonic()
        (v,) = verify_batch([{"completion": completion, "answer": "7"}], workers=1, timeout=limit)
        took = time.monotonic() - start
        assert took < limit + 1.0, (name, took)
        assert v.correct in (True, False, None), name
        if v.correct is None:  # unjudged only by the clock or by an answer nobody can parse
            assert v.reason in ("timeout", "answer could not be parsed"), (name, v)


def test_a_timeout_kills_only_its_item_and_the_rest_complete():
    pool = VerifierPool(workers=2)
    try:
        items = [
            {"completion": f"\\boxed{{\\sqrt{{{i * i}}}}}", "answer": str(i)} for i in range(20)
        ]
        items.insert(7, {"completion": HOSTILE_MATH["power_tower"], "answer": "3"})
        vs = pool.map(items, timeout=1.5)
        assert vs[7].correct is None and vs[7].reason == "timeout"
        rest = vs[:7] + vs[8:]
        assert all(v.correct is True for v in rest), [v for v in rest if v.correct is not True]
        assert pool.timeouts == 1
    finally:
        pool.close()


def test_safe_from_many_threads_at_once():
    errors, results = [], {}

    def work(t):
        try:
            items = [
                {"completion": f"\\boxed{{\\frac{{{t}}}{{{k + 1}}}}}", "answer": f"{t}/{k + 1}"}
                for k in range(15)
            ]
            items.append({"completion": "\\boxed{\\sqrt{2}}", "answer": "\\frac{2}{\\sqrt{2}}"})
            results[t] = verify_batch(items, workers=2)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert not errors
    assert all(all(v.correct is True for v in vs) for vs in results.values()) and len(results) == 6


def test_verify_from_a_thread_without_signals():
    out = []
    th = threading.Thread(target=lambda: out.append(verify("\\boxed{\\log_2 8}", "3")))
    th.start()
    th.join(timeout=60)
    assert out and out[0].correct is True


def test_bad_items_get_clear_errors():
    import pytest

    with pytest.raises(TypeError, match="item 1 is str"):
        verify_batch([{"completion": "1", "answer": "1"}, "oops"])
    with pytest.raises(ValueError, match="unknown verifier kind 'poetry'"):
        verify("x", "y", kind="poetry")


UNGUARDED = """
from verifiers import verify_batch
items = [{"completion": r"so $\\boxed{\\frac{\\sqrt{3}}{2}}$", "answer": r"\\frac{\\sqrt3}{2}"}] * 3
print("RESULT", [v.correct for v in verify_batch(items, workers=2)])
"""


@pytest.mark.parametrize("entry", ["script", "dash_c", "stdin"])
def test_verify_batch_works_without_a_main_guard(entry, tmp_path):
    """No `if __name__ == "__main__":` guard, `python -c`, a script on stdin: workers still judge."""
    script = tmp_path / "unguarded.py"
    script.write_text(UNGUARDED)
    root = str(Path(verifiers.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": root}
    args, stdin = {
        "script": ([sys.executable, str(script)], None),
        "dash_c": ([sys.executable, "-c", UNGUARDED], None),
        "stdin": ([sys.executable, "-"], UNGUARDED),
    }[entry]
    out = subprocess.run(
        args, input=stdin, capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "RESULT [True, True, True]" in out.stdout, out.stdout + out.stderr[-2000:]
    assert "Traceback" not in out.stderr, out.stderr[-2000:]


def test_a_verdict_a_worker_reached_is_reused_on_the_fast_path():
    """A (gold, answer) pair that needed SymPy in a worker is decided in the calling thread the next
    time (mathrules.remembered): samples of one problem repeat their final answer."""
    from verifiers import mathrules

    mathrules.remembered.cache_clear()
    completion, gold = "so \\boxed{x^2+2x+1}", "(x+1)^2"
    assert mathrules.check(completion, gold, fast_only=True) is None  # needs SymPy
    [v] = verify_batch([{"completion": completion, "answer": gold}], workers=1)
    assert v.correct is True
    again = mathrules.check("it is \\boxed{x^2+2x+1}", gold, fast_only=True)
    assert again is not None and again.correct is True and again.reason == v.reason
