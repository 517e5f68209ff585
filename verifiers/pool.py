"""verify_batch: check many completions in worker processes that can be killed.

Why processes: SymPy can hang on hostile input (power towers, deep nesting) and math-verify's own
timeouts use signals, which only work in the main thread. A worker that runs past an item's limit is
killed and replaced; its item comes back `correct=None, reason="timeout"` and the rest of its
chunk is re-queued. Answers that need neither SymPy nor a subprocess are decided in the calling
thread (the fast path), and golds are parsed once per worker (cached), so most items never cross a
process boundary.

Workers are fresh interpreters (`python -c`, started with `subprocess`), not multiprocessing
children: those re-import the caller's main script, so a script without an
`if __name__ == "__main__":` guard, or one read from standard input, had its workers die and every
slow-path item came back unjudged. A fresh interpreter needs nothing from the caller, works from any
script, notebook or thread, and is never forked from the caller's (possibly threaded) process.
Starting one costs ~0.6 s (math-verify and SymPy imports), paid once per worker and again only when
a worker is killed.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pickle
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from verifiers import mathrules
from verifiers.registry import DEFAULT_TIMEOUT, check_item, fast_check
from verifiers.verdict import Verdict

CHUNK = 16
FIRST = 256  # items fast-checked before any worker is involved (most batches end there)
STEP = 32  # items fast-checked between two looks at the workers


def _worker(conn, options: dict[str, Any] | None) -> None:
    """Worker loop: receive [(index, item), ...], send back (index, verdict dict) one at a time."""
    import logging

    logging.disable(logging.WARNING)
    while True:
        try:
            chunk = conn.recv()
        except (EOFError, OSError):
            return
        if chunk is None:
            return
        for idx, item in chunk:
            try:
                v = check_item(item, options)
            except Exception as e:  # a checker bug must not take the batch down
                v = Verdict(
                    None,
                    None,
                    f"error: {type(e).__name__}: {e}"[:500],
                    item.get("kind", "math"),
                    "",
                )
            conn.send((idx, v.to_dict()))


# The worker's entry: the package's parent directory goes on sys.path, so a caller that imports
# the package from a checkout (not installed) starts workers that find it too.
_ENTRY = "import sys; sys.path.insert(0, {root!r}); from verifiers.pool import _child_main; _child_main()"
_ROOT = str(Path(__file__).resolve().parent.parent)


def _child_main() -> None:
    """Runs in the worker interpreter: the connection's fd is argv[1], the options come first."""
    conn = Connection(int(sys.argv[1]))
    # Warm up the parser once, so the first items' time limits are not spent on imports.
    from verifiers import mathrules

    mathrules.warm_up()
    options = pickle.loads(conn.recv_bytes())
    conn.send("ready")
    _worker(conn, options)


class _Worker:
    def __init__(self, options):
        ours, theirs = socket.socketpair()
        self.conn = Connection(ours.detach())
        fd = theirs.detach()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _ENTRY.format(root=_ROOT), str(fd)],
                pass_fds=(fd,),
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # the caller's Ctrl-C is for the caller; we kill workers
            )
        finally:
            os.close(fd)
        self.conn.send_bytes(pickle.dumps(options))
        self.pending: deque[tuple[int, dict]] = deque()  # sent, not yet answered, in order
        self.started = 0.0  # when the item at pending[0] began
        self.ready = False

    def wait_ready(self, timeout: float = 300.0) -> None:
        """Block until the worker has imported and warmed up: start-up is not an item's time."""
        if self.ready:
            return
        try:
            if not self.conn.poll(timeout):
                raise RuntimeError(f"a verifier worker did not start within {timeout:.0f} s")
            if self.conn.recv() != "ready":
                raise RuntimeError("a verifier worker sent an unexpected first message")
        except (EOFError, OSError) as e:
            raise RuntimeError(
                f"a verifier worker ({sys.executable}) exited while starting (exit code "
                f"{self.proc.poll()}); its traceback is on stderr above. Check that "
                f"`{sys.executable} -c 'import verifiers'` works"
            ) from e
        self.ready = True

    def poll_ready(self) -> bool:
        """Has the worker finished starting? Never blocks."""
        if not self.ready and self.conn.poll(0):
            self.wait_ready()
        return self.ready

    def send(self, chunk: list[tuple[int, dict]]) -> None:
        self.wait_ready()
        self.pending.extend(chunk)
        self.started = time.monotonic()
        self.conn.send(chunk)

    def kill(self) -> None:
        try:
            self.proc.kill()
            self.proc.wait(timeout=5)
        finally:
            self.conn.close()


class VerifierPool:
    """A set of worker processes; `map` is safe to call from any thread (calls take turns)."""

    def __init__(self, workers: int = 2, options: dict[str, Any] | None = None):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.n = workers
        self.options = options or None
        self._workers: list[_Worker] = []
        self._spare: _Worker | None = None  # started ahead, so a killed worker is replaced at once
        self._lock = threading.Lock()
        self.timeouts = 0

    def _spawn(self) -> _Worker:
        return _Worker(self.options)

    def close(self) -> None:
        with self._lock:
            for w in self._workers + ([self._spare] if self._spare else []):
                with contextlib.suppress(OSError):
                    w.conn.send(None)
                w.kill()
            self._workers, self._spare = [], None

    def map(
        self, items: list[dict[str, Any]], timeout: float | None = None, progress=None
    ) -> list[Verdict]:
        results: list[Verdict | None] = [None] * len(items)
        queue: deque[tuple[int, dict]] = deque()
        todo = iter(enumerate(items))

        def produce(n: int) -> bool:
            """The fast path for up to n more items (slow ones queue up); False once all are seen."""
            for _ in range(n):
                nxt = next(todo, None)
                if nxt is None:
                    return False
                i, item = nxt
                v = fast_check(item, self.options)
                if v is None:
                    queue.append((i, item))
                    continue
                results[i] = v
                if progress:
                    progress(1)
            return True

        more = produce(FIRST)
        if not queue and not more:
            return results  # type: ignore[return-value]
        with self._lock:
            self._run(queue, results, timeout, progress, produce, more)
        return results  # type: ignore[return-value]

    def _limit(self, item: dict, timeout: float | None) -> float:
        return (
            timeout if timeout is not None else DEFAULT_TIMEOUT.get(item.get("kind", "math"), 5.0)
        )

    def _run(self, queue, results, timeout, progress, produce, more: bool) -> None:
        """Workers take the slow items while this thread goes on with the fast path (`produce`)."""
        started = False

        def feed(w: _Worker, block: bool) -> None:
            if not w.pending and queue and (block or w.poll_ready()):
                size = max(1, min(CHUNK, len(queue) // (2 * self.n) or 1))
                w.send([queue.popleft() for _ in range(min(size, len(queue)))])

        while more or queue or any(w.pending for w in self._workers):
            if queue and not started:
                while len(self._workers) < self.n:
                    self._workers.append(self._spawn())
                if self._spare is None:
                    self._spare = self._spawn()
                for w in self._workers:
                    w.pending.clear()
                started = True
            for w in self._workers if started else []:
                # Block for a warming worker only when this thread has nothing else to do.
                feed(w, block=not more and not any(x.pending for x in self._workers))
            if more:
                more = produce(STEP)
            busy = {w.conn: w for w in self._workers if w.pending}
            if not busy:
                continue
            now = time.monotonic()
            nearest = min(w.started + self._limit(w.pending[0][1], timeout) for w in busy.values())
            ready = wait(list(busy), timeout=0 if more else max(0.0, nearest - now))
            for conn in ready:
                w = busy[conn]
                try:
                    idx, vd = conn.recv()
                except (EOFError, OSError):
                    self._replace(w, results, "worker died", progress, queue)
                    continue
                results[idx] = Verdict.from_dict(vd)
                _, item = w.pending.popleft()
                if item.get("kind", "math") == "math":
                    mathrules.remember(results[idx], item.get("answer"))
                w.started = time.monotonic()
                if progress:
                    progress(1)
            now = time.monotonic()
            for w in list(self._workers):
                if w.pending and now - w.started > self._limit(w.pending[0][1], timeout):
                    self.timeouts += 1
                    self._replace(w, results, "timeout", progress, queue)

    def _replace(self, w: _Worker, results, reason: str, progress, queue) -> None:
        """Kill a stuck or dead worker: its current item gets `reason`, the rest go back in line."""
        idx, item = w.pending.popleft()
        results[idx] = Verdict(None, None, reason, item.get("kind", "math"), "")
        if progress:
            progress(1)
        queue.extendleft(reversed(w.pending))
        w.pending.clear()
        w.kill()
        self._workers[self._workers.index(w)] = self._spare or self._spawn()
        self._spare = self._spawn()


_POOLS: dict[tuple, VerifierPool] = {}
_POOLS_LOCK = threading.Lock()


def get_pool(workers: int, options: dict[str, Any] | None = None) -> VerifierPool:
    key = (workers, tuple(sorted((options or {}).items())))
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            pool = _POOLS[key] = VerifierPool(workers, options)
        return pool


@atexit.register
def _close_pools() -> None:
    with _POOLS_LOCK:
        pools = list(_POOLS.values())
        _POOLS.clear()
    for pool in pools:
        pool.close()


def verify_batch(
    items: list[dict[str, Any]],
    workers: int | None = None,
    timeout: float | None = None,
    progress=None,
    **options,
) -> list[Verdict]:
    """Check many items; verdicts come back in input order, one per item, never hanging.

    Args:
        items: dicts with `completion`, `answer`, `kind` (default "math") and optional `finish_reason`.
        workers: worker processes (default: min(2, CPU count)).
        timeout: per-item wall-clock limit in seconds (default per kind: math 5, code 20).
        progress: optional callable taking the number of items just finished (a tqdm `update`).
        **options: passed to the kind's checker (e.g. `letters=` for choice, `time_limit=` for code).
    """
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise TypeError(f"verify_batch: item {i} is {type(item).__name__}, expected a dict")
    workers = workers or min(2, os.cpu_count() or 1)
    return get_pool(workers, options).map(items, timeout=timeout, progress=progress)
