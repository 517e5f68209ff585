"""Chat templates as a contract: training examples rendered and masked with any model's own template.

A model is sampled with its generation prompt and writes a completion; it is trained on exactly that
text, the generation prompt, then the completion, then the end-of-turn its template closes a turn
with (DESIGN.md, "Chat templates"). There is no per-model table: rollout/prompts.py renders the
generation prompt with the tokenizer's own template (and the model's own think switch), finds the
end-of-turn by rendering, and drops from the completion the part of the think block the prompt
already wrote (R1-Distill's prompt opens `<think>`; Qwen3's writes the empty block when thinking is
off). Here the two parts are tokenized apart, as generation sees them (the prompt tokenized alone,
then the model's tokens), and the loss mask covers exactly the completion and its end-of-turn.

    from distill.templates import training_example
    ex = training_example(tokenizer, messages[:-1], messages[-1]["content"], switch="think")
    ex["input_ids"], ex["labels"]          # -100 on the prompt

tests/test_templates.py checks this against the real templates of Phi-4-mini, Qwen2.5/3, Llama-3.x,
DeepSeek-R1-Distill, SmolLM2, gemma-2 and others (tests/data/chat_templates/).
"""

from __future__ import annotations

from typing import Any

from rollout.prompts import end_of_turn, training_parts

IGNORE = -100  # the label of a token the loss does not cover


def training_text(tokenizer, msgs: list[dict[str, str]], completion: str, switch=None) -> str:
    """The text a model is trained on for one conversation: generation prompt + completion +
    end-of-turn (the distill pretraining corpus is made of these)."""
    prompt, target = training_parts(tokenizer, msgs, completion, switch)
    return prompt + target


def training_example(
    tokenizer, msgs: list[dict[str, str]], completion: str, switch: str | None = None
) -> dict[str, Any]:
    """One tokenized training example: input_ids, labels (IGNORE on the prompt), and its parts.

    The prompt is tokenized alone, as the generation engine tokenizes it, and the target (the
    completion and the end-of-turn) after it, so no token straddles the boundary; both without
    added special tokens, since templates that want a BOS write it themselves.
    """
    prompt, target = training_parts(tokenizer, msgs, completion, switch)
    prompt_ids = tokenizer(str(prompt), add_special_tokens=False)["input_ids"]
    target_ids = tokenizer(target, add_special_tokens=False)["input_ids"]
    return {
        "input_ids": prompt_ids + target_ids,
        "labels": [IGNORE] * len(prompt_ids) + target_ids,
        "prompt": str(prompt),
        "target": target,
        "prompt_tokens": len(prompt_ids),
    }


def end_of_turn_ids(tokenizer) -> list[int]:
    """The token ids of the template's end-of-turn (the last target tokens of every example)."""
    return tokenizer(end_of_turn(tokenizer), add_special_tokens=False)["input_ids"]
