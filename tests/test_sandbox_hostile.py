"""Hostile solutions against the code sandbox: each case tries one escape and the test checks the HOST.

Every case is a solution that defines a correct `add` only after its escape worked, so a correct
verdict would mean an escape; but the verdict is not the evidence. After each run the test checks
the host itself: the files outside the sandbox (a planted canary, a victim file and folder) are
byte-for-byte, inode-for-inode unchanged and nothing new appeared; the canary and a secret in the
parent's environment appear in no output, verdict or log; a loopback TCP/UDP listener and two
Unix sockets saw nothing; a sleeper process and the test process itself are alive and got no
signal; no process of the run is left; `/dev/null` kept its mode; the host can still fork.

Three ways to run each case:
- `check`: `sandbox.check` as a caller uses it (OS isolation + the audit hook);
- `os-only`: the same run without the audit hook, so the OS boundary alone must hold;
- `unprivileged`: `os-only` run by an unprivileged user created for the test (CI runs as root), in
  one batch, skipped when no such user can be made or it cannot reach the interpreter.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from string import Template

import pytest

from verifiers import sandbox

ROOT = Path(__file__).resolve().parents[1]
TESTS = "assert add(2, 3) == 5\nassert add(-1, 1) == 0"
ADD = "\ndef add(a, b):\n    return a + b\n"
LIMIT = 2.0
UNPRIV_USER = "rdsandboxci"

# name -> solution body; $names are filled in per run (see World.params). Each body raises unless
# its escape worked; `add` is appended after it.
CASES: dict[str, str] = {
    # reading outside
    "read_canary": "print(open('$canary').read())",
    "read_etc_shadow": "assert len(open('/etc/shadow').read()) > 0",
    "read_canary_dotdot": "print(open('../../../../../../..' + '$canary').read())",
    "read_canary_proc_self_root": "print(open('/proc/self/root$canary').read())",
    "read_canary_proc_1_root": "print(open('/proc/1/root$canary').read())",
    "read_canary_proc_parent_root": "print(open('/proc/$parent_pid/root$canary').read())",
    "read_parent_environ": "e = open('/proc/$parent_pid/environ', 'rb').read()\nprint(e)\n"
    "assert b'RD_HOSTILE_SECRET' in e",
    "list_canary_dir": "import os\nos.chdir('/')\nprint(os.listdir('$outside'))",
    "symlink_escape": "import os\nos.symlink('$canary', 'l')\nprint(open('l').read())",
    "symlink_dir_escape": "import os\nos.symlink('$outside', 'd')\nprint(os.listdir('d'))",
    "hardlink_canary_in": "import os\nos.link('$canary', 'h')\nprint(open('h').read())",
    # environment and inherited file descriptors
    "env_secret": "import os\nprint(dict(os.environ))\nassert 'RD_HOSTILE_SECRET' in os.environ",
    "inherited_fds": "import os\nfound = b''\n"
    "for fd in range(3, 1024):\n"
    "    try:\n        os.lseek(fd, 0, 0)\n        found += os.read(fd, 4096)\n"
    "    except OSError:\n        pass\n"
    "print(found)\nassert b'CANARY-' in found",
    "fd_dir_openat_escape": "import os\nhits = []\n"
    "for fd in range(3, 256):\n"
    "    try:\n        hits.append(os.listdir(os.open('..', os.O_RDONLY, dir_fd=fd)))\n"
    "    except OSError:\n        pass\n"
    "assert any('canary.txt' in h for h in hits)",
    # writing outside
    "write_new_outside": "open('$outside/pwned', 'w').write('pwned')",
    "overwrite_victim": "open('$victim', 'w').write('pwned')",
    "append_victim": "open('$victim', 'a').write('pwned')",
    "truncate_victim": "import os\nos.truncate('$victim', 0)",
    "rename_victim": "import os\nos.rename('$victim', '$victim.moved')",
    "delete_victim": "import os\nos.remove('$victim')",
    "rmtree_victim_dir": "import shutil\nshutil.rmtree('$victim_dir')",
    "chmod_victim": "import os\nos.chmod('$victim', 0o777)",
    "chmod_host_dev_null": "import os\nos.chmod('/dev/null', 0o666)  # same mode: harmless if it works",
    "write_via_proc_self_root": "open('/proc/self/root$outside/pwned', 'w').write('x')",
    "hardlink_out": "import os\nopen('x', 'w').write('pwned')\nos.link('x', '$outside/hl')",
    "symlink_write_out": "import os\nos.symlink('$outside/pwned', 'l')\nopen('l', 'w').write('x')",
    # FIFOs and device nodes
    "mkfifo_outside": "import os\nos.mkfifo('$outside/fifo')",
    "mkfifo_inside": "import os\nos.mkfifo('fifo')\nassert os.path.exists('fifo')",
    "mknod_char_null_inside": "import os, stat\n"
    "os.mknod('null2', stat.S_IFCHR | 0o666, os.makedev(1, 3))\nopen('null2', 'w').write('x')",
    "mknod_block_disk_inside": "import os, stat\n"
    "os.mknod('disk', stat.S_IFBLK | 0o600, os.makedev($root_major, $root_minor))\n"
    "print(len(open('disk', 'rb').read(512)))",
    "mknod_outside": "import os, stat\n"
    "os.mknod('$outside/null2', stat.S_IFCHR | 0o666, os.makedev(1, 3))",
    # /proc and signals
    "proc_parent_cwd": "import os\nprint(os.listdir('/proc/$parent_pid/cwd'))",
    "proc_parent_mem": "f = open('/proc/$parent_pid/mem', 'rb')\nprint(f.read(1))",
    "kill_sleeper": "import os\nos.kill($sleeper_pid, 9)",
    "signal_parent": "import os, signal\nos.kill($parent_pid, signal.SIGWINCH)",
    "signal_everyone": "import os, signal\nos.kill(-1, signal.SIGWINCH)\n"
    "assert os.path.exists('/proc/$sleeper_pid')",
    "killpg_parent": "import os, signal\nos.killpg($parent_pgid, signal.SIGWINCH)",
    "ptrace_parent": "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
    "assert libc.ptrace(16, $parent_pid, 0, 0) == 0  # PTRACE_ATTACH",
    "ptrace_own_child": "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
    "pid = os.fork()\nif pid == 0:\n    import time; time.sleep(5); os._exit(0)\n"
    "assert libc.ptrace(16, pid, 0, 0) == 0",
    # bombs and fills
    "fork_bomb": "import os\nwhile True:\n    os.fork()",
    "thread_bomb": "import threading, time\n"
    "while True:\n    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()",
    "detached_child": "import os, time\nif os.fork() == 0:\n    os.setsid()\n"
    "    while True:\n        time.sleep(0.1)\nassert False",
    "memory_fill": "x = []\nwhile True:\n    x.append(bytearray(10**7))",
    "disk_fill": "n = 0\ntry:\n    i = 0\n    while True:\n"
    "        with open(f'f{i}', 'wb') as f:\n            for _ in range(8):\n"
    "                f.write(b'x' * 2**20)\n                n += 2**20\n        i += 1\n"
    "except OSError as e:\n    print('wrote', n, e)\nassert n > 2**30",
    "fill_sandbox_root": "n = 0\ntry:\n    while True:\n"
    "        open(f'/f{n}', 'wb').write(b'x' * 2**20)\n        n += 1\n"
    "except OSError as e:\n    print(n, e)\nassert n > 1024",
    "fill_dev_shm": "n = 0\ntry:\n    while True:\n"
    "        open(f'/dev/shm/f{n}', 'wb').write(b'x' * 2**20)\n        n += 1\n"
    "except OSError as e:\n    print(n, e)\nassert n > 1024",
    # network
    "tcp_loopback": "import socket\ns = socket.create_connection(('127.0.0.1', $tcp_port), timeout=1)\n"
    "s.sendall(b'$case')",
    "tcp_ipv6_loopback": "import socket\ns = socket.create_connection(('::1', $tcp_port), timeout=1)",
    "udp_loopback": "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
    "s.settimeout(0.5)\ns.sendto(b'$case', ('127.0.0.1', $udp_port))\n"
    "assert s.recv(100)",
    "tcp_unroutable": "import socket\nsocket.create_connection(('10.255.255.1', 9), timeout=1)",
    "unix_abstract": "import socket\ns = socket.socket(socket.AF_UNIX)\n"
    "s.connect('\\0$abstract')\ns.sendall(b'$case')",
    "unix_path": "import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect('$unix_path')",
    # privileges
    "setuid_root": "import os\nos.setuid(0)\nprint(open('$canary').read())",
    "chroot": "import os\nos.chroot('/')",
    "mount_tmpfs": "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
    "assert libc.mount(b'none', b'/sandbox', b'tmpfs', 0, None) == 0",
    "unshare_user": "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
    "assert libc.unshare(0x10000000) == 0  # CLONE_NEWUSER",
    # Python-level bypasses of the audit hook, then an escape
    "hook_patched_via_gc": "import gc\n"
    "for f in gc.get_objects():\n"
    "    if getattr(f, '__name__', '') == 'hook' and hasattr(f, '__code__'):\n"
    "        f.__code__ = (lambda event, args: None).__code__\n"
    "open('$outside/pwned', 'w').write('x')",
    "hook_globals_via_main": "import __main__\n__main__.BLOCKED = ()\n__main__.PATH_EVENTS = ()\n"
    "__main__.inside = lambda p: True\nimport os\nos.remove('$victim')",
    "posixsubprocess_by_file": "import importlib.util, glob\n"
    "import sys\np = glob.glob(sys.prefix + '/lib/python3*/lib-dynload/_posixsubprocess*.so')[0]\n"
    "spec = importlib.util.spec_from_file_location('_posixsubprocess', p)\n"
    "m = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(m)\n"
    "import os, sys\nr, w = os.pipe()\n"
    "m.fork_exec([sys.executable, '-c', \"open('$outside/pwned','w')\"], [sys.executable.encode()],"
    " True, (), None, None, -1, -1, -1, -1, -1, -1, r, w, True, False, None, None, None, -1, None,"
    " False)\nimport time; time.sleep(1)\nassert os.path.exists('$outside/pwned')",
    "subclasses_file_write": "io = [c for c in object.__subclasses__() if c.__name__ == 'FileIO'][0]\n"
    "io('$outside/pwned', 'w').write(b'x')",
    "posix_module_system": "import sys\nsys.modules['posix'].system('echo x > $outside/pwned')\n"
    "assert __import__('os').path.exists('$outside/pwned')",
}


# ---------------------------------------------------------------------------------------------
# The host-side world each case runs against.


class Listeners:
    """Loopback TCP and UDP listeners, an abstract and a path Unix socket; records every contact."""

    def __init__(self, base: Path):
        self.events: list[str] = []
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(16)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.abstract = "rd-hostile-" + secrets.token_hex(6)
        self.ua = socket.socket(socket.AF_UNIX)
        self.ua.bind("\0" + self.abstract)
        self.ua.listen(4)
        self.unix_path = str(base / "listener.sock")
        self.up = socket.socket(socket.AF_UNIX)
        self.up.bind(self.unix_path)
        os.chmod(self.unix_path, 0o777)
        self.up.listen(4)
        self.stop = False
        for s in (self.tcp, self.ua, self.up):
            threading.Thread(target=self._accept, args=(s,), daemon=True).start()
        threading.Thread(target=self._udp, daemon=True).start()

    def _accept(self, s):
        s.settimeout(0.2)
        while not self.stop:
            try:
                c, _ = s.accept()
            except (TimeoutError, OSError):
                continue
            self.events.append(f"connection on {s.getsockname()!r}")
            c.close()

    def _udp(self):
        self.udp.settimeout(0.2)
        while not self.stop:
            try:
                data, peer = self.udp.recvfrom(100)
            except (TimeoutError, OSError):
                continue
            self.events.append(f"datagram {data!r}")

    def close(self):
        self.stop = True
        for s in (self.tcp, self.udp, self.ua, self.up):
            s.close()


def snapshot(path: Path) -> dict:
    """Everything observable about the files under `path` (names, types, modes, inodes, contents)."""
    out = {}
    for p in sorted([path, *path.rglob("*")]):
        st = os.lstat(p)
        entry = (
            stat.S_IFMT(st.st_mode),
            stat.S_IMODE(st.st_mode),
            st.st_ino,
            st.st_nlink,
            st.st_uid,
        )
        if stat.S_ISREG(st.st_mode):
            entry += (hashlib.sha256(p.read_bytes()).hexdigest(),)
        out[str(p.relative_to(path))] = entry
    return out


class World:
    """Files outside the sandbox (canary, victim file and folder) and the ids of live processes."""

    def __init__(self, base: Path, owner: int | None = None):
        self.outside = base / "outside"
        self.outside.mkdir(parents=True)
        self.canary_text = "CANARY-" + secrets.token_hex(16)
        self.canary = self.outside / "canary.txt"
        self.canary.write_text(self.canary_text)
        self.victim = self.outside / "victim.txt"
        self.victim.write_text("victim")
        self.victim_dir = self.outside / "victim_dir"
        self.victim_dir.mkdir()
        (self.victim_dir / "keep").write_text("keep")
        os.chmod(self.outside, 0o777)  # so that only the sandbox stands between a solution and it
        if owner is not None:
            for p in [base, *base.rglob("*")]:
                os.chown(p, owner, owner)
        self.before = snapshot(self.outside)

    def params(self, case: str, procs: dict, listeners: Listeners) -> dict:
        dev = os.stat("/").st_dev
        return {
            "case": case,
            "canary": str(self.canary),
            "outside": str(self.outside),
            "victim": str(self.victim),
            "victim_dir": str(self.victim_dir),
            "root_major": os.major(dev),
            "root_minor": os.minor(dev),
            "tcp_port": listeners.tcp.getsockname()[1],
            "udp_port": listeners.udp.getsockname()[1],
            "abstract": listeners.abstract,
            "unix_path": listeners.unix_path,
            **procs,
        }


def code_for(case: str, params: dict) -> str:
    return Template(CASES[case]).substitute(params) + ADD


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return "\nState:\tZ" not in f.read()
    except OSError:
        return False


def processes_with(marker: str) -> list[int]:
    found = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    if marker.encode() in f.read():
                        found.append(int(d))
            except OSError:
                pass
    return found


def assert_contained(world: World, texts: list[str], secret: str, sleeper: int, events: list):
    """The host-side evidence, the same for every case."""
    assert snapshot(world.outside) == world.before, "files outside the sandbox changed"
    for t in texts:
        assert world.canary_text not in t, "the canary's content leaked into an output"
        assert secret not in t, "the parent's secret environment variable leaked"
    assert alive(sleeper), "the sleeper process was killed"
    assert events == [], f"a listener was reached: {events}"
    st = os.stat("/dev/null")
    assert stat.S_ISCHR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o666
    assert subprocess.run(["true"]).returncode == 0  # the host can still fork


# ---------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def bwrap_isolation():
    iso = sandbox.isolation()
    if iso.mode != "bwrap":
        if os.geteuid() == 0:
            pytest.fail(f"no OS isolation as root: {iso.reason}; fix: {sandbox.FIX}")
        pytest.skip(f"no OS isolation on this machine: {iso.reason}")
    return iso


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    """Listeners, a sleeper process, and a SIGWINCH counter on the test process (the parent)."""
    base = tmp_path_factory.mktemp("hostile-host")
    os.chmod(base, 0o755)
    listeners = Listeners(base)
    sleeper = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, time\nsignal.signal(signal.SIGWINCH, lambda *a: None)\n"
            "time.sleep(3600)",
        ]
    )
    got = []
    old = signal.signal(signal.SIGWINCH, lambda *a: got.append("SIGWINCH"))
    yield {"listeners": listeners, "sleeper": sleeper, "signals": got}
    signal.signal(signal.SIGWINCH, old)
    sleeper.kill()
    sleeper.wait()
    listeners.close()


@pytest.fixture
def secret(monkeypatch):
    value = "SECRET-" + secrets.token_hex(12)
    monkeypatch.setenv("RD_HOSTILE_SECRET", value)
    return value


def block(code: str) -> str:
    return "My solution:\n```python\n" + code + "\n```\n"


# ---------------------------------------------------------------------------------------------
# Root (or whoever runs the tests): with and without the audit hook.


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("layer", ["check", "os-only"])
def test_hostile_case_is_contained(
    case, layer, bwrap_isolation, host, secret, tmp_path, caplog, capfd
):
    caplog.set_level("DEBUG")
    world = World(tmp_path)
    # The canary open in the parent without close-on-exec: it must not reach the solution.
    leaky = os.open(world.canary, os.O_RDONLY)
    os.set_inheritable(leaky, True)
    try:
        run_case(case, layer, world, host, secret, caplog, capfd)
    finally:
        os.close(leaky)


def run_case(case, layer, world, host, secret, caplog, capfd):
    sleeper = host["sleeper"].pid
    procs = {
        "parent_pid": os.getpid(),
        "parent_pgid": os.getpgid(0),
        "sleeper_pid": sleeper,
    }
    code = code_for(case, world.params(case, procs, host["listeners"]))
    events_before = len(host["listeners"].events)
    signals_before = len(host["signals"])
    start = time.monotonic()
    if layer == "check":
        v = sandbox.check(block(code), TESTS, time_limit=LIMIT)
        assert v.correct is False, v
        assert v.details["isolation"] == "bwrap"
        texts = [json.dumps(v.to_dict())]
    else:
        rid = secrets.token_hex(8)
        r = sandbox.run_once(
            code, "asserts", tests=TESTS, time_limit=LIMIT, audit_hook=False, run_id=rid
        )
        assert r["status"] != "ok", r
        assert r["isolation"] == "bwrap"
        assert processes_with(f"rd-sandbox:{rid}") == [], "processes of the run outlived it"
        texts = [json.dumps(r)]
    assert time.monotonic() - start < LIMIT + 4
    out, err = capfd.readouterr()
    texts += [out, err, caplog.text]
    assert_contained(world, texts, secret, sleeper, host["listeners"].events[events_before:])
    assert host["signals"][signals_before:] == [], "the parent (this test process) got a signal"


def test_the_suite_is_big_enough():
    assert len(CASES) >= 30


# ---------------------------------------------------------------------------------------------
# An unprivileged user (CI runs as root): the whole table in one batch, then the same host checks.

DRIVER = r"""
import json, os, signal, sys, types
got = []
signal.signal(signal.SIGWINCH, lambda *a: got.append(1))
repo, jobs_path, out_path = sys.argv[1:4]
# Import the sandbox without the package's __init__ (which pulls in math-verify and SymPy).
pkg = types.ModuleType("verifiers")
pkg.__path__ = [os.path.join(repo, "verifiers")]
sys.modules["verifiers"] = pkg
from verifiers import sandbox
iso = sandbox.isolation()
results = {"isolation": iso.mode, "reason": iso.reason, "uid": os.getuid(), "runs": {}}
if iso.mode == "bwrap":
    for job in json.load(open(jobs_path)):
        job["params"]["parent_pid"] = os.getpid()
        job["params"]["parent_pgid"] = os.getpgid(0)
        from string import Template
        code = Template(job["template"]).substitute(job["params"]) + job["add"]
        r = sandbox.run_once(code, "asserts", tests=job["tests"], time_limit=job["limit"],
                             audit_hook=False, run_id=job["rid"])
        results["runs"][job["case"]] = r
results["signals"] = len(got)
json.dump(results, open(out_path, "w"))
"""


def _unprivileged_user() -> tuple[int, int] | str:
    """The test user's (uid, gid), created if needed; or why it cannot be had."""
    if os.geteuid() != 0:
        return "not root: this run is already unprivileged"
    try:
        pw = pwd.getpwnam(UNPRIV_USER)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        r = subprocess.run(
            [
                useradd,
                "--system",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                UNPRIV_USER,
            ],
            capture_output=True,
            text=True,
        )
        if r.returncode != 0:
            return f"useradd failed: {r.stderr.strip()}"
        pw = pwd.getpwnam(UNPRIV_USER)
    return pw.pw_uid, pw.pw_gid


@pytest.fixture(scope="module")
def unprivileged_batch(bwrap_isolation):
    user = _unprivileged_user()
    if isinstance(user, str):
        pytest.skip(user)
    uid, gid = user
    iso = bwrap_isolation
    python = (
        os.path.join(iso.view, os.path.relpath(iso.exe, sys.base_prefix)) if iso.view else iso.exe
    )
    bwrap = iso.argv[0]  # as root: one uid 65534 can run (the plan copies it if needed)
    for need in (python, bwrap):
        if not sandbox._traversable_by_others(need):
            pytest.skip(f"{need} is not readable by an unprivileged user on this machine")
    # Not under pytest's basetemp: that is private to root (0700). The checkout and the venv may
    # be private too: the user gets its own copy of the three modules the sandbox needs.
    base = Path(tempfile.mkdtemp(prefix="rd-hostile-unpriv-"))
    os.chmod(base, 0o755)
    src = base / "src" / "verifiers"
    src.mkdir(parents=True)
    for name in ("sandbox.py", "answer.py", "verdict.py"):
        shutil.copy(ROOT / "verifiers" / name, src / name)
    for p in (base / "src", src, *src.iterdir()):
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    try:
        yield _run_batch(base, uid, gid, python, bwrap)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _run_batch(base: Path, uid: int, gid: int, python: str, bwrap: str) -> dict:
    listeners = Listeners(base)
    sleeper = subprocess.Popen(
        [
            python,
            "-c",
            "import signal, time\nsignal.signal(signal.SIGWINCH, lambda *a: None)\n"
            "time.sleep(3600)",
        ],
        user=uid,
        group=gid,
        extra_groups=[],
        env={"LD_LIBRARY_PATH": str(Path(python).parents[1] / "lib")},
    )
    secret = "SECRET-" + secrets.token_hex(12)
    jobs, worlds = [], {}
    for case in sorted(CASES):
        world = worlds[case] = World(base / case, owner=uid)
        params = world.params(case, {"sleeper_pid": sleeper.pid}, listeners)
        params.pop("parent_pid", None)
        jobs.append(
            {
                "case": case,
                "template": Template(CASES[case]).safe_substitute(
                    {k: v for k, v in params.items()}
                ),
                "params": {},
                "add": ADD,
                "tests": TESTS,
                "limit": LIMIT,
                "rid": secrets.token_hex(8),
            }
        )
    (base / "jobs.json").write_text(json.dumps(jobs))
    (base / "driver.py").write_text(DRIVER)
    out = base / "results.json"
    for p in (base, base / "jobs.json", base / "driver.py"):
        os.chown(p, uid, gid)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(base),
        "LD_LIBRARY_PATH": str(Path(python).parents[1] / "lib"),
        "PYTHONPATH": str(base / "src"),
        sandbox.BWRAP_ENV: bwrap,
        "RD_HOSTILE_SECRET": secret,
    }
    start = time.monotonic()
    r = subprocess.run(
        [python, str(base / "driver.py"), str(base / "src"), str(base / "jobs.json"), str(out)],
        user=uid,
        group=gid,
        extra_groups=[],
        env=env,
        cwd=base,
        capture_output=True,
        text=True,
        timeout=300,
    )
    seconds = time.monotonic() - start
    listeners.close()
    alive_after = alive(sleeper.pid)
    sleeper.kill()
    sleeper.wait()
    assert r.returncode == 0, r.stderr[-3000:]
    results = json.loads(out.read_text())
    if results["isolation"] != "bwrap":
        pytest.skip(f"bwrap does not start for an unprivileged user here: {results['reason']}")
    return {
        "results": results,
        "worlds": worlds,
        "jobs": {j["case"]: j for j in jobs},
        "secret": secret,
        "events": listeners.events,
        "sleeper_alive": alive_after,
        "uid": uid,
        "stdout": r.stdout,
        "stderr": r.stderr,
        "seconds": seconds,
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_case_is_contained_unprivileged(case, unprivileged_batch):
    b = unprivileged_batch
    res = b["results"]
    assert res["uid"] == b["uid"] != 0
    run = res["runs"][case]
    assert run["isolation"] == "bwrap" and run["status"] != "ok", run
    world = b["worlds"][case]
    assert snapshot(world.outside) == world.before, "files outside the sandbox changed"
    for t in (json.dumps(run), b["stdout"], b["stderr"]):
        assert world.canary_text not in t and b["secret"] not in t
    assert b["sleeper_alive"], "the unprivileged user's sleeper process was killed"
    assert b["events"] == [], f"a listener was reached: {b['events']}"
    assert res["signals"] == 0, "the driver (the sandbox's parent) got a signal"
    assert processes_with(f"rd-sandbox:{b['jobs'][case]['rid']}") == []


@pytest.mark.parametrize("case", ["read_canary", "rename_victim"])
def test_the_host_checks_see_an_escape_without_isolation(case, host, tmp_path):
    """The detectors work: with neither the OS boundary nor the audit hook, these (harmless,
    test-owned) escapes succeed, and the same host-side checks report them."""
    world = World(tmp_path)
    code = code_for(
        case, world.params(case, {"parent_pid": 1, "parent_pgid": 1}, host["listeners"])
    )
    r = sandbox.run_once(
        code, "asserts", tests=TESTS, time_limit=LIMIT, layers_only=True, audit_hook=False
    )
    assert r["isolation"] in ("layers-only", "unsafe")
    with pytest.raises(AssertionError):
        assert_contained(world, [json.dumps(r)], "unused", host["sleeper"].pid, [])
