"""Code checking: run a Python solution against test cases in a contained child process.

Containment, in layers, so that one missing layer does not open the host:
- a throw-away working directory, a scrubbed environment, `python -I` (no user site, no env vars);
- resource limits: address space, CPU seconds, file size, open files, no core dumps;
- a fresh network namespace (no interfaces but a down loopback) where the OS allows it; the verdict
  records whether it did (`details.network_isolated`);
- when started as root, the child drops to `nobody`, so it cannot write outside its directory and
  the process limit applies;
- an audit hook that refuses forks, subprocesses, sockets and writes outside the directory;
- a wall-clock limit after which the whole process group is killed; output goes to files capped by
  the file-size limit, so a print loop cannot fill the caller's memory.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from verifiers.answer import answer_region
from verifiers.verdict import Verdict

NAME = "code"
VERSION = "1.0"

# Runs inside the child as `python -I -c HARNESS CONFIG_JSON`, cwd = the throw-away directory.
HARNESS = r"""
import sys, os, json, resource
cfg = json.loads(sys.argv[1])
mem = cfg["memory_mb"] * 1024 * 1024
resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
resource.setrlimit(resource.RLIMIT_CPU, (cfg["cpu_s"], cfg["cpu_s"] + 1))
resource.setrlimit(resource.RLIMIT_FSIZE, (cfg["file_bytes"], cfg["file_bytes"]))
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
isolated = False
try:
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    CLONE_NEWNET, CLONE_NEWUSER = 0x40000000, 0x10000000
    isolated = libc.unshare(CLONE_NEWNET) == 0 or libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0
except Exception:
    pass
# Forget ctypes again: the solution must import it afresh, which the audit hook refuses.
for name in [m for m in sys.modules if m == "ctypes" or m.startswith(("ctypes.", "_ctypes"))]:
    del sys.modules[name]
libc = ctypes = None
home = os.getcwd()
# In assert mode the parent sends a one-off token on stdin; it is written only after the tests
# ran to the end, so a solution that exits early (sys.exit, os._exit) cannot pass.
token = sys.stdin.readline().strip() if cfg["mode"] == "asserts" else None
# Warm the modules solutions use most, so a dropped user can still have them.
for name in ("math", "itertools", "collections", "functools", "heapq", "bisect", "re", "string",
             "random", "fractions", "decimal", "statistics", "typing", "dataclasses", "copy",
             "operator", "datetime", "array", "cmath", "numbers"):
    try:
        __import__(name)
    except ImportError:
        pass

def world_traversable(path):
    # Dropping to `nobody` is only safe if the interpreter's own files stay readable.
    path = os.path.realpath(path)
    while path not in ("/", ""):
        if not os.stat(path).st_mode & 0o001:
            return False
        path = os.path.dirname(path)
    return True

import sysconfig
dropped = False
if os.getuid() == 0 and world_traversable(sysconfig.get_paths()["stdlib"]):
    dropped = True
    os.chown(home, 65534, 65534)
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
    resource.setrlimit(resource.RLIMIT_NPROC, (16, 16))
with open("_sandbox.json", "w") as f:
    json.dump({"network_isolated": isolated, "dropped_privileges": dropped}, f)

BLOCKED = ("os.fork", "os.forkpty", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
           "subprocess.Popen", "socket.__new__", "socket.connect", "socket.bind", "ctypes.dlopen",
           "os.kill", "os.killpg", "signal.pthread_kill", "pty.spawn")
PATH_EVENTS = ("os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown",
               "shutil.rmtree", "os.truncate", "os.symlink", "os.link", "os.utime")

def inside(path):
    try:
        p = os.path.realpath(os.fspath(path) if not isinstance(path, int) else home)
    except Exception:
        return False
    return p == home or p.startswith(home + os.sep)

# Modules that reach fork/exec or raw memory without raising an audit event of their own.
BLOCKED_IMPORTS = ("_posixsubprocess", "_ctypes", "ctypes", "_xxsubinterpreters")

def hook(event, args):
    if event == "import" and args and args[0] in BLOCKED_IMPORTS:
        raise ImportError(f"sandbox: importing {args[0]} is not allowed")
    if event in BLOCKED:
        raise PermissionError(f"sandbox: {event} is not allowed")
    if event == "open" and args and args[0] is not None:
        mode, flags = args[1] or "r", args[2] or 0
        writing = any(c in str(mode) for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        if writing and not inside(args[0]):
            raise PermissionError(f"sandbox: writing {args[0]!r} is not allowed")
    elif event in PATH_EVENTS and args and not inside(args[0]):
        raise PermissionError(f"sandbox: {event} outside the working directory is not allowed")

sys.addaudithook(hook)
src = open("solution.py").read()
if cfg["mode"] == "asserts":
    src = src + "\n\n" + open("tests.py").read()
try:
    exec(compile(src, "solution.py", "exec"), {"__name__": "__main__"})
except AssertionError as e:
    sys.stderr.write("AssertionError: " + str(e)[:500] + "\n")
    sys.exit(1)
except SystemExit as e:
    if cfg["mode"] == "asserts" or e.code not in (0, None):
        sys.stderr.write(f"SystemExit({e.code!r}) before the end\n")
        sys.exit(3)
sys.stdout.flush()
if token:
    with open("_done", "w") as f:
        f.write(token)
"""

_CODE_BLOCK = re.compile(
    r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE
)


def extract_code(completion: str, finish_reason: str | None = "stop") -> tuple[str | None, str]:
    region, why = answer_region(completion, finish_reason)
    if region is None:
        return None, why
    blocks = _CODE_BLOCK.findall(region)
    if not blocks:
        return None, "no ```python code block in the final answer"
    return blocks[-1], ""


def parse_tests(answer) -> dict:
    """Tests as datasets store them: asserts (string or list) or stdin/stdout pairs."""
    if isinstance(answer, str):
        s = answer.strip()
        if s.startswith("{"):
            answer = json.loads(s)
        else:
            return {"mode": "asserts", "tests": s}
    if isinstance(answer, list):
        return {"mode": "asserts", "tests": "\n".join(answer)}
    if isinstance(answer, dict):
        if "tests" in answer:
            t = answer["tests"]
            return {"mode": "asserts", "tests": "\n".join(t) if isinstance(t, list) else str(t)}
        if "inputs" in answer and "outputs" in answer:
            if len(answer["inputs"]) != len(answer["outputs"]):
                raise ValueError("code tests: 'inputs' and 'outputs' differ in length")
            return {
                "mode": "io",
                "inputs": list(answer["inputs"]),
                "outputs": list(answer["outputs"]),
            }
    raise ValueError(
        "code tests must be assert statements (a string or list) or a dict with 'tests', "
        f"or with 'inputs' and 'outputs'; got {type(answer).__name__}"
    )


def _scrubbed_env(home: str) -> dict:
    return {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": home,
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def run_once(
    code: str,
    mode: str,
    tests: str = "",
    stdin: str = "",
    time_limit: float = 4.0,
    memory_mb: int = 512,
) -> dict:
    """Run one sandboxed process; returns status, stdout (capped), stderr tail, isolation."""
    home = tempfile.mkdtemp(prefix="rd-sandbox-")
    try:
        with open(os.path.join(home, "solution.py"), "w") as f:
            f.write(code)
        with open(os.path.join(home, "tests.py"), "w") as f:
            f.write(tests)
        if mode == "asserts":
            token = secrets.token_hex(16)
            stdin = token + "\n"
        cfg = {
            "mode": mode,
            "memory_mb": memory_mb,
            "cpu_s": max(1, int(time_limit + 0.999)),
            "file_bytes": 8 * 1024 * 1024,
        }
        with (
            open(os.path.join(home, "_out"), "wb") as out,
            open(os.path.join(home, "_err"), "wb") as err,
        ):
            proc = subprocess.Popen(
                [sys.executable, "-I", "-c", HARNESS, json.dumps(cfg)],
                cwd=home,
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=err,
                env=_scrubbed_env(home),
                start_new_session=True,
            )
            status = "ok"
            start = time.monotonic()
            try:
                proc.communicate(stdin.encode(), timeout=time_limit + 1.0)
            except subprocess.TimeoutExpired:
                status = "timeout"
            except BrokenPipeError:
                pass
            finally:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            elapsed = time.monotonic() - start
        if (
            status == "ok"
            and mode == "asserts"
            and proc.returncode == 0
            and _read(os.path.join(home, "_done"), 64) != token
        ):
            status = "exited before the tests finished"
        elif status == "ok" and proc.returncode is not None and proc.returncode < 0:
            status = f"killed by {signal.Signals(-proc.returncode).name}"
        elif status == "ok" and proc.returncode != 0:
            status = "failed"
        stdout = _read(os.path.join(home, "_out"), 1 << 20)
        stderr = _read(os.path.join(home, "_err"), 1 << 16)
        try:
            with open(os.path.join(home, "_sandbox.json")) as f:
                facts = json.load(f)
        except (OSError, ValueError):
            facts = {}
        isolated = bool(facts.get("network_isolated"))
        return {
            "status": status,
            "returncode": proc.returncode,
            "stdout": stdout,
            "stderr": stderr[-2000:],
            "network_isolated": isolated,
            "dropped_privileges": bool(facts.get("dropped_privileges")),
            "seconds": round(elapsed, 3),
        }
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _read(path: str, limit: int) -> str:
    try:
        with open(path, "rb") as f:
            return f.read(limit).decode("utf-8", "replace")
    except OSError:
        return ""


def _same_output(got: str, want: str) -> bool:
    norm = lambda s: "\n".join(line.rstrip() for line in str(s).strip().splitlines())  # noqa: E731
    return norm(got) == norm(want)


def check(
    completion: str,
    answer,
    finish_reason: str | None = "stop",
    time_limit: float = 4.0,
    memory_mb: int = 512,
) -> Verdict:
    def verdict(correct, extracted=None, reason="", **details):
        return Verdict(correct, extracted, reason, NAME, VERSION, details)

    try:
        spec = parse_tests(answer)
    except ValueError as e:
        return verdict(None, reason=str(e))
    code, why = extract_code(completion, finish_reason)
    if code is None:
        return verdict(False, reason=why)
    snippet = code[:2000]
    if spec["mode"] == "asserts":
        r = run_once(
            code, "asserts", tests=spec["tests"], time_limit=time_limit, memory_mb=memory_mb
        )
        ok = r["status"] == "ok"
        reason = (
            "all asserts passed"
            if ok
            else f"{r['status']}: {r['stderr'].strip().splitlines()[-1:] or ''}"
        )
        return verdict(
            ok, snippet, reason, network_isolated=r["network_isolated"], passed=int(ok), total=1
        )
    passed, isolated, first_fail = 0, True, ""
    for i, (stdin, want) in enumerate(zip(spec["inputs"], spec["outputs"], strict=True)):
        r = run_once(code, "io", stdin=str(stdin), time_limit=time_limit, memory_mb=memory_mb)
        isolated = isolated and r["network_isolated"]
        if r["status"] == "ok" and _same_output(r["stdout"], want):
            passed += 1
        else:
            first_fail = first_fail or f"case {i}: {r['status']}"
            break  # one failure decides; the rest would only cost time
    total = len(spec["inputs"])
    ok = passed == total
    return verdict(
        ok,
        snippet,
        "all cases passed" if ok else first_fail,
        network_isolated=isolated,
        passed=passed,
        total=total,
    )
