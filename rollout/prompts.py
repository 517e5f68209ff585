"""Prompts: a Problem rendered with the model's own chat template, one way for every engine and stage.

Generation (farm, evaluation) and training (curation, SFT, pairs, DPO) render conversations through
this module, with whatever chat template the tokenizer carries: there is no per-model table. The
contract (DESIGN.md, "Chat templates"): a model is trained on exactly what generation shows it, the
generation prompt, then the completion, then the end-of-turn its template closes a turn with
(`end_of_turn`, found by rendering); the loss covers the completion and that end-of-turn.

The hybrid switch forces a reasoning answer (the completion starts inside `<think>`), a direct one
(an empty think block), or leaves it to the model, through the model's own mechanism where it has
one: a template that takes `enable_thinking` (Qwen3) gets it; a generation prompt that already opens
`<think>` (DeepSeek-R1-Distill) is not given a second one; other templates get the think text
appended to the generation prompt. Rollout completions always hold the whole think block
("<think>\n...</think>\n\nanswer"), whatever part of it the prompt wrote, so that any teacher's
rollouts can train any student.
"""

from __future__ import annotations

import os
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


class Prompt(str):
    """A rendered generation prompt: the text an engine continues, plus what a chat API needs.

    `prefix` is the part of the completion the prompt already wrote (an opened or empty think
    block): engines return `prefix + generated text`, so a stored completion always holds the whole
    think block. `messages` and `template_kwargs` are for engines that render on the server side.
    """

    messages: list[dict[str, str]]
    prefix: str
    template_kwargs: dict[str, Any]

    def __new__(cls, text: str = "", messages=None, prefix: str = "", template_kwargs=None):
        obj = super().__new__(cls, text)
        obj.messages = list(messages or [])
        obj.prefix = prefix
        obj.template_kwargs = dict(template_kwargs or {})
        return obj

    def __reduce__(self):
        return (Prompt, (str(self), self.messages, self.prefix, self.template_kwargs))


# Variables every render gets. Llama-3.x templates put today's date in the system header unless
# told a date: a fixed one keeps prompts (and so seeds, resumes and training data) the same every day.
RENDER_KWARGS: dict[str, Any] = {"date_string": "26 Jul 2024"}

_SWITCH: dict[str, bool] = {}
_EOT: dict[tuple[str, str], str] = {}


def _template(tokenizer) -> str:
    own = tokenizer.chat_template
    if not isinstance(own, str) or not own:
        raise ValueError(
            f"tokenizer {getattr(tokenizer, 'name_or_path', '?')!r} has no chat template; give the "
            "model folder one (tokenizer.chat_template = ...; save_pretrained) or use an instruct model"
        )
    return own


def think_switch(tokenizer) -> bool:
    """Whether the chat template has its own think switch (`enable_thinking`, as Qwen3's): the
    generation prompt renders differently with it on and off. Found by rendering, not by name."""
    key = _template(tokenizer)
    if key not in _SWITCH:
        probe = [{"role": "user", "content": "Hi"}]
        on, off = (
            tokenizer.apply_chat_template(
                probe,
                tokenize=False,
                add_generation_prompt=True,
                enable_thinking=flag,
                **RENDER_KWARGS,
            )
            for flag in (True, False)
        )
        _SWITCH[key] = on != off
    return _SWITCH[key]


def _opened(text: str, want: str) -> str:
    """The think-block text the generation prompt already ends with: the longest start of `want`
    (or, with nothing wanted, of an empty or opened think block) that `text` ends in."""
    if want:
        for k in range(len(want), len("<think>") - 1, -1):
            if text.endswith(want[:k]):
                return want[:k]
        return ""
    for cand in (EMPTY_THINK, THINK_OPEN, "<think>"):
        if text.endswith(cand):
            return cand
    return ""


def generation_prompt(
    tokenizer, msgs: list[dict[str, str]], thinking: str = "default", force: bool = True
) -> Prompt:
    """The model's own generation prompt for `msgs`, with the hybrid switch applied.

    thinking="on": the completion starts inside <think>; "off": with an empty think block;
    "default": as the template has it (R1-Distill's template opens <think> itself). force=False
    sets only the template's own switch (enable_thinking) and writes no think text of its own.
    """
    if thinking not in THINKING_MODES:
        raise ValueError(f"prompt.thinking must be one of {THINKING_MODES}, got {thinking!r}")
    _template(tokenizer)
    kwargs: dict[str, Any] = {}
    if thinking != "default" and think_switch(tokenizer):
        kwargs["enable_thinking"] = thinking == "on"
    try:
        text = tokenizer.apply_chat_template(
            msgs, tokenize=False, add_generation_prompt=True, **RENDER_KWARGS, **kwargs
        )
    except Exception as e:  # the template's own raise_exception (gemma: no system role, ...)
        roles = [m.get("role") for m in msgs]
        raise ValueError(
            f"the model's chat template refused a conversation with roles {roles}: {e} "
            "(a template without a system role needs system=null)"
        ) from e
    want = {"on": THINK_OPEN, "off": EMPTY_THINK}.get(thinking, "") if force else ""
    have = _opened(text, want)
    return Prompt(text + want[len(have) :], msgs, want or have, kwargs)


def render(tokenizer, problem: dict[str, Any], cfg: PromptConfig) -> Prompt:
    """The exact text an engine is given: chat template, generation prompt, hybrid switch."""
    return generation_prompt(tokenizer, messages(problem, cfg), cfg.thinking)


def end_of_turn(tokenizer) -> str:
    """The text the chat template closes an assistant turn with, found by rendering.

    An assistant turn followed by nothing and the same turn followed by a user turn: what comes
    right after the assistant's text in both, cut after its last special token (ChatML's newline
    after <|im_end|>, Phi's <|endoftext|> after the last turn are not part of the turn's end).
    """
    key = (_template(tokenizer), str(getattr(tokenizer, "eos_token", "")))
    if key in _EOT:
        return _EOT[key]
    mark = "RDASSISTANTTEXT"
    base = [{"role": "user", "content": "RDUSERTEXT"}, {"role": "assistant", "content": mark}]
    try:
        last, more = (
            tokenizer.apply_chat_template(m, tokenize=False, **RENDER_KWARGS)
            for m in (base, base + [{"role": "user", "content": "RDNEXTUSER"}])
        )
    except Exception as e:  # a template's own raise_exception, or a syntax it needs
        raise ValueError(f"the chat template cannot render a user/assistant exchange: {e}") from e
    if mark not in last or mark not in more:
        raise ValueError(
            "the chat template drops the assistant's text from a conversation, so its end-of-turn "
            "cannot be found; give the tokenizer a template that renders assistant turns"
        )
    a, b = last.rsplit(mark, 1)[1], more.split(mark, 1)[1]
    common = a[: len(os.path.commonprefix([a, b]))]
    specials = set(getattr(tokenizer, "all_special_tokens", []))
    specials |= {t.content for t in getattr(tokenizer, "added_tokens_decoder", {}).values()}
    ends = [common.find(s) + len(s) for s in specials if s and s in common]
    eot = common[: max(ends)] if ends else common.rstrip()
    if not eot:
        eot = tokenizer.eos_token or ""
    if not eot:
        raise ValueError(
            "the chat template closes an assistant turn with nothing, and the tokenizer has no "
            "eos_token: the model could never learn to stop; set tokenizer.eos_token"
        )
    _EOT[key] = eot
    return eot


# Training-side formatting of a completion for the hybrid mode (curation and pair building).
# The prompt-level switch for templates without their own (Qwen3/SmolLM3 style flags).
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


def training_prompt(tokenizer, msgs: list[dict[str, str]], switch: str | None = None) -> Prompt:
    """The generation prompt a training example is rendered with.

    switch None: the prompt as generation renders it by default. "think" / "direct": the hybrid
    switch through the model's own mechanism (enable_thinking) where the template has one, else the
    /think or /no_think flag on the last user turn. The think block itself stays in the completion
    (it is what the model must learn to write), except the part the template's prompt writes.
    """
    if switch is None:
        return generation_prompt(tokenizer, msgs)
    if switch not in MODE_FLAGS:
        raise ValueError(f"switch must be one of {sorted(MODE_FLAGS)} or null, got {switch!r}")
    if think_switch(tokenizer):  # the model writes its own <think> when thinking is on
        return generation_prompt(tokenizer, msgs, "on" if switch == "think" else "off", force=False)
    flagged = [*msgs[:-1], {**msgs[-1], "content": with_switch(msgs[-1]["content"], switch)}]
    return generation_prompt(tokenizer, flagged)


def training_parts(
    tokenizer, msgs: list[dict[str, str]], completion: str, switch: str | None = None
) -> tuple[Prompt, str]:
    """(generation prompt, target): the training text is prompt + target, token for token what
    generation shows and what the model must write; target = the completion less the think text
    the prompt already holds, then the template's end-of-turn. The loss covers the target."""
    prompt = training_prompt(tokenizer, msgs, switch)
    if not completion.startswith(prompt.prefix):
        raise ValueError(
            f"the completion does not start with {prompt.prefix!r}, which this model's generation "
            f"prompt already writes (it starts {completion[:40]!r}); format it with a think block "
            "(rd-curate and rd-pairs format=think do)"
        )
    return prompt, completion[len(prompt.prefix) :] + end_of_turn(tokenizer)
