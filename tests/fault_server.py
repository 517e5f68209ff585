"""A deliberate fault injector: an OpenAI-compatible /v1/completions server that misbehaves.

Not a model and not a stand-in for vLLM (the real server is tested in test_rollout_engines.py): it
exists to produce what real servers do only under load or failure, on demand: 429s, 500s, replies
slower than the client's timeout, and connections dropped mid-request. Healthy replies are
deterministic in (prompt, seed, index), so a retried request returns what the first one would have.
It listens on loopback only and serves a bounded number of requests.

/v1/chat/completions answers the way vLLM does behind `--reasoning-parser deepseek_r1`: the reasoning
in `reasoning_content` (or `reasoning`, vLLM's newer name), the answer in `content`. Given `answers`
(a problem text -> gold answer), a reply is right with probability `p_correct` and wrong otherwise,
so a toy teacher produces both correct and wrong rollouts for a whole pipeline to train on.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FaultInjectingServer:
    def __init__(
        self,
        p_429=0.15,
        p_500=0.1,
        p_slow=0.05,
        p_drop=0.1,
        slow_seconds=3.0,
        seed=0,
        max_requests=5000,
        answers: dict[str, str] | None = None,
        p_correct=0.5,
        reasoning_field="reasoning_content",
    ):
        self.answers = dict(answers or {})
        self.p_correct = p_correct
        self.reasoning_field = reasoning_field
        self.chat_requests: list[dict] = []
        self.p = {"429": p_429, "500": p_500, "slow": p_slow, "drop": p_drop}
        self.slow_seconds = slow_seconds
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.faults = {"429": 0, "500": 0, "slow": 0, "drop": 0}
        self.served = 0
        self.requests = 0
        self.max_requests = max_requests
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):  # noqa: N802
                body = json.loads(
                    self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}"
                )
                fault = outer._draw()
                if fault == "429":
                    return self._send(429, {"error": {"message": "rate limited (injected)"}})
                if fault == "500":
                    return self._send(500, {"error": {"message": "server error (injected)"}})
                if fault == "drop":
                    self.connection.close()  # no status line at all: the client sees a dropped connection
                    return None
                if fault == "slow":
                    time.sleep(outer.slow_seconds)
                with outer.lock:
                    outer.served += 1
                if self.path.rstrip("/").endswith("/chat/completions"):
                    with outer.lock:
                        outer.chat_requests.append(body)
                    return self._send(200, outer._chat(body))
                return self._send(200, outer._completion(body))

            def _send(self, code, obj):
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def _draw(self) -> str | None:
        with self.lock:
            self.requests += 1
            if self.requests > self.max_requests:
                return "500"
            x = self.rng.random()
            for name, p in self.p.items():
                if x < p:
                    self.faults[name] += 1
                    return name
                x -= p
            return None

    def _completion(self, body: dict) -> dict:
        n = int(body.get("n", 1))
        choices = []
        for i in range(n):
            h = hashlib.sha256(f"{body.get('prompt')}|{body.get('seed')}|{i}".encode()).digest()
            value = h[0] % 20
            choices.append(
                {
                    "index": i,
                    "text": f"Working it out... The answer is \\boxed{{{value}}}.",
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            )
        return {
            "id": "cmpl-fault",
            "object": "text_completion",
            "created": 0,
            "model": body.get("model", "x"),
            "choices": choices,
            "usage": {"prompt_tokens": 1, "completion_tokens": 8 * n, "total_tokens": 1 + 8 * n},
        }

    def _value(self, key: str, seed, i: int) -> str:
        """The answer of choice i: the gold with probability p_correct when it is known."""
        h = hashlib.sha256(f"{key}|{seed}|{i}".encode()).digest()
        gold = next((a for q, a in self.answers.items() if q in key), None)
        if gold is not None and h[1] / 256 < self.p_correct:
            return gold
        value = h[0] % 20
        return str(value + 20 if gold is not None and str(value) == gold else value)

    def _chat(self, body: dict) -> dict:
        msgs = body.get("messages") or []
        question = next((m["content"] for m in reversed(msgs) if m.get("role") == "user"), "")
        choices = []
        for i in range(int(body.get("n", 1))):
            v = self._value(question, body.get("seed"), i)
            message = {
                "role": "assistant",
                "content": f"The answer is \\boxed{{{v}}}.",
                self.reasoning_field: f"Let me work it out step by step.\nSo the result is {v}.",
            }
            choices.append({"index": i, "message": message, "finish_reason": "stop"})
        return {
            "id": "chatcmpl-fault",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model", "x"),
            "choices": choices,
            "usage": {"prompt_tokens": 1, "completion_tokens": 20, "total_tokens": 21},
        }

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
