"""Chat templates are a contract: one rendering for generation and for training.

A model is sampled with `template(messages, add_generation_prompt=True)` and the completion it
writes; it is trained on `template(messages + [assistant turn])`. The two must be the same text,
token for token, or the student learns a format it is never prompted with. Training templates here
are the model's own template plus `{% generation %}` markers (which TRL's `assistant_only_loss`
needs to find the assistant tokens); the markers change no output, and tests/test_templates.py
checks the two renderings against golden strings.

    from distill.templates import training_template
    tokenizer.chat_template = training_template(tokenizer)
"""

from __future__ import annotations

# SmolLM2's ChatML template (as the tokenizer ships it), with generation markers around what the
# assistant writes: its content and the end-of-turn token, which it must learn to emit.
SMOLLM2_TRAINING = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# A Phi-4-mini-style template written here (no hub): <|system|>...<|end|><|user|>...<|end|>
# <|assistant|>...<|end|>. Phi-4-mini-reasoning puts its reasoning in <think>...</think> inside the
# assistant turn, which this template carries unchanged.
PHI4_MINI = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|assistant|>' }}{% generation %}{{ message['content'] + '<|end|>' }}{% endgeneration %}"
    "{% else %}"
    "{{ '<|' + message['role'] + '|>' + message['content'] + '<|end|>' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% else %}{{ eos_token }}{% endif %}"
)

# Shipped model template (as a prefix of its text) -> the training template that renders the same.
TRAINING_TEMPLATES = {
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM": SMOLLM2_TRAINING,
}


def training_template(tokenizer) -> str:
    """The training template for a tokenizer's own chat template (one with generation markers)."""
    own = tokenizer.chat_template or ""
    if "{% generation %}" in own:
        return own
    for prefix, template in TRAINING_TEMPLATES.items():
        if own.startswith(prefix):
            return template
    raise ValueError(
        "no training template with {% generation %} markers is known for this tokenizer's chat template; "
        "add one to distill.templates.TRAINING_TEMPLATES (it must render exactly like the model's own), "
        "or train without assistant-only loss"
    )


def generation_text(tokenizer, messages: list[dict[str, str]], completion: str, eot: str) -> str:
    """What the model saw and wrote at generation time, with the end-of-turn it should emit."""
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return prompt + completion + eot
