"""Code checker: correct solutions pass; hostile ones fail or are contained, never harm the host."""

import os
import time

import pytest

from verifiers import sandbox

TESTS = {"tests": ["assert add(2, 3) == 5", "assert add(-1, 1) == 0"]}


def block(code: str) -> str:
    return "Here is my solution.\n```python\n" + code + "\n```\nIt adds the numbers."


def test_correct_and_wrong_solutions():
    assert sandbox.check(block("def add(a, b):\n    return a + b"), TESTS).correct is True
    assert sandbox.check(block("def add(a, b):\n    return a - b"), TESTS).correct is False


def test_stdin_stdout_cases_and_the_last_code_block_counts():
    io = {"inputs": ["3\n", "10\n"], "outputs": ["6\n", "20"]}
    text = "First try:\n```python\nprint(0)\n```\nFixed:\n```python\nprint(int(input()) * 2)\n```"
    v = sandbox.check(text, io)
    assert v.correct is True and v.details["passed"] == 2
    assert sandbox.check(block("print(int(input()) * 3)"), io).correct is False


def test_no_code_block_truncation_and_unclosed_think_are_wrong():
    assert sandbox.check("def add(a, b): return a + b", TESTS).correct is False
    assert (
        sandbox.check(
            block("def add(a, b):\n    return a + b"), TESTS, finish_reason="length"
        ).correct
        is False
    )
    assert (
        sandbox.check("<think>" + block("def add(a, b):\n    return a + b"), TESTS).correct is False
    )


def test_bad_test_spec_is_unjudged_with_a_reason():
    v = sandbox.check(block("pass"), {"inputs": ["1"], "outputs": []})
    assert v.correct is None and "differ in length" in v.reason


HOSTILE = {
    "infinite_loop": "def add(a, b):\n    while True:\n        pass",
    "fork_bomb": "import os\nwhile True:\n    os.fork()",
    "subprocess": "import subprocess\nsubprocess.run(['sh', '-c', 'echo hi'])\ndef add(a, b): return a + b",
    "memory_bomb": "x = bytearray(50 * 1024**3)\ndef add(a, b): return a + b",
    "socket": "import socket\nsocket.create_connection(('127.0.0.1', 22), timeout=1)\ndef add(a, b): return a + b",
    "ctypes": "import ctypes\ndef add(a, b): return a + b",
    "early_exit": "import os\nos._exit(0)",
    "sys_exit": "import sys\nsys.exit(0)",
    "print_flood": "while True:\n    print('x' * 4096)",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_code_fails_within_its_limit(name):
    start = time.monotonic()
    v = sandbox.check(block(HOSTILE[name]), TESTS, time_limit=2)
    assert v.correct is False, v
    assert time.monotonic() - start < 2 + 3


def test_writing_outside_the_directory_is_refused(tmp_path):
    target = tmp_path / "pwned.txt"
    code = f"open({str(target)!r}, 'w').write('x')\nimport os\nos.remove({str(tmp_path)!r} + '/keep')\ndef add(a, b): return a + b"
    (tmp_path / "keep").write_text("keep")
    v = sandbox.check(block(code), TESTS)
    assert v.correct is False
    assert not target.exists() and (tmp_path / "keep").exists()


def test_writing_inside_its_directory_is_allowed_and_thrown_away():
    code = "open('scratch.txt', 'w').write('ok')\ndef add(a, b): return a + b"
    assert sandbox.check(block(code), TESTS).correct is True


def test_environment_is_scrubbed(monkeypatch):
    monkeypatch.setenv("RD_SECRET_TOKEN", "hunter2")
    code = "import os\nassert 'RD_SECRET_TOKEN' not in os.environ\ndef add(a, b): return a + b"
    assert sandbox.check(block(code), TESTS).correct is True


def test_verdict_records_network_isolation():
    v = sandbox.check(block("def add(a, b): return a + b"), TESTS)
    assert isinstance(v.details["network_isolated"], bool)
    if os.geteuid() == 0:  # root can always unshare the network namespace on Linux
        assert v.details["network_isolated"] is True
