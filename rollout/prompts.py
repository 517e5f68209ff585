"""Prompts: a Problem rendered with the model's own chat template, one way for every engine.

Generation (farm, evaluation) and training render conversations through `render`, so a checkpoint
sees at training time exactly what it will see when sampled. Per-kind instructions ask for the
answer format the verifiers read; an optional worked example shows it (small models follow a shown
format far more often than a described one). The hybrid-mode switch forces a reasoning answer (the
completion starts inside `<think>`) or a direct one (an empty think block), or leaves it to the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

INSTRUCTIONS = {
    "math": "Solve the problem. Put your final answer in \\boxed{}.",
    "choice": "Choose the correct option. End with a line of the form 'Answer: X' where X is the letter.",
    "code": "Write a complete Python solution in a single ```python code block.",
    "open": "Answer the question. End with a line of the form 'Answer: ...'.",
}

EXAMPLES = {
    "math": ("What is 6 + 7?", "6 + 7 = 13.\nThe answer is \\boxed{13}."),
    "choice": (
        "Which gas do plants absorb for photosynthesis?\nA) Oxygen\nB) Carbon dioxide\nC) Nitrogen\nD) Helium",
        "Plants take in carbon dioxide and release oxygen.\nAnswer: B",
    ),
    "code": (
        "Write a function add(a, b) that returns the sum.",
        "```python\ndef add(a, b):\n    return a + b\n```",
    ),
    "open": ("What is the capital of France?", "The capital of France is Paris.\nAnswer: Paris"),
}

THINK_OPEN = "<think>\n"
EMPTY_THINK = "<think>\n\n</think>\n\n"


@dataclass
class PromptConfig:
    system: str | None = None  # None: the chat template's own default system turn
    instructions: dict[str, str] = field(default_factory=lambda: dict(INSTRUCTIONS))
    example: bool = True  # one worked example of the answer format before the question
    thinking: str = "default"  # "on": start inside <think>; "off": an empty think block; "default"


THINKING_MODES = ("default", "on", "off")


def messages(problem: dict[str, Any], cfg: PromptConfig) -> list[dict[str, str]]:
    kind = problem.get("kind", "math")
    instruction = cfg.instructions.get(kind, "")
    msgs: list[dict[str, str]] = []
    if cfg.system is not None:
        msgs.append({"role": "system", "content": cfg.system})
    if cfg.example and kind in EXAMPLES:
        q, a = EXAMPLES[kind]
        msgs += [
            {"role": "user", "content": f"{q}\n\n{instruction}".strip()},
            {"role": "assistant", "content": a},
        ]
    msgs.append({"role": "user", "content": f"{problem['prompt']}\n\n{instruction}".strip()})
    return msgs


def forced_prefix(cfg: PromptConfig) -> str:
    """What the generation prompt ends with under the hybrid switch (and what the completion starts with)."""
    if cfg.thinking not in THINKING_MODES:
        raise ValueError(f"prompt.thinking must be one of {THINKING_MODES}, got {cfg.thinking!r}")
    return {"on": THINK_OPEN, "off": EMPTY_THINK}.get(cfg.thinking, "")


def render(tokenizer, problem: dict[str, Any], cfg: PromptConfig) -> str:
    """The exact text an engine is given: chat template, generation prompt, forced think prefix."""
    text = tokenizer.apply_chat_template(
        messages(problem, cfg), tokenize=False, add_generation_prompt=True
    )
    return text + forced_prefix(cfg)


# Training-side formatting of a completion for the hybrid mode (curation and pair building).
# The prompt-level hybrid switch appended to the user turn (Qwen3/SmolLM3 style).
MODE_FLAGS = {"think": "/think", "direct": "/no_think"}


def split_completion(completion: str) -> tuple[str, str]:
    """(reasoning, final answer): around the last </think> if there is one, else the last line."""
    if "</think>" in completion:
        head, _, answer = completion.rpartition("</think>")
        reasoning = head.split("<think>", 1)[-1].strip()
        answer = answer.strip()
        if not answer and reasoning:  # everything inside the think block: its last line answers
            answer = reasoning.splitlines()[-1].strip()
        return reasoning, answer
    lines = completion.strip().splitlines()
    if not lines:
        return "", ""
    return "\n".join(lines[:-1]).strip(), lines[-1].strip()


def format_answer(reasoning: str, answer: str, mode: str) -> str:
    if mode == "direct":
        return EMPTY_THINK + answer
    return f"{THINK_OPEN}{reasoning}\n</think>\n\n{answer}"


def with_switch(content: str, mode: str) -> str:
    return f"{content} {MODE_FLAGS[mode]}"
