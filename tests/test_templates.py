"""Golden tests: a conversation renders the same at generation and at training, token for token."""

import pytest
from transformers import AutoTokenizer

from distill.templates import PHI4_MINI, generation_text, training_template

CONVO = [
    {"role": "system", "content": "Think first, then answer."},
    {"role": "user", "content": "What is 6 + 7?"},
]
ANSWER = "<think>\n6 + 7 = 13.\n</think>\nThe answer is \\boxed{13}."

SMOLLM2_GOLDEN = (
    "<|im_start|>system\nThink first, then answer.<|im_end|>\n"
    "<|im_start|>user\nWhat is 6 + 7?<|im_end|>\n"
    "<|im_start|>assistant\n<think>\n6 + 7 = 13.\n</think>\nThe answer is \\boxed{13}.<|im_end|>\n"
)
PHI4_GOLDEN = (
    "<|system|>Think first, then answer.<|end|><|user|>What is 6 + 7?<|end|>"
    "<|assistant|><think>\n6 + 7 = 13.\n</think>\nThe answer is \\boxed{13}.<|end|><|endoftext|>"
)


@pytest.fixture(scope="module")
def smol(smollm2_path):
    return AutoTokenizer.from_pretrained(smollm2_path)


def test_smollm2_training_render_is_the_golden_string_and_matches_generation(smol):
    train = smol.apply_chat_template(
        CONVO + [{"role": "assistant", "content": ANSWER}],
        tokenize=False,
        chat_template=training_template(smol),
    )
    assert train == SMOLLM2_GOLDEN
    gen = generation_text(smol, CONVO, ANSWER, "<|im_end|>")
    assert train.startswith(gen) and train[len(gen) :] == "\n"
    # token for token: generation-time ids are a prefix of training-time ids
    ids_gen = smol(gen, add_special_tokens=False)["input_ids"]
    ids_train = smol(train, add_special_tokens=False)["input_ids"]
    assert ids_train[: len(ids_gen)] == ids_gen
    assert ids_gen[-1] == smol.eos_token_id  # the turn ends with the model's end-of-turn token


def test_default_system_turn_and_generation_prompt_agree(smol):
    msgs = [{"role": "user", "content": "Hi"}]
    own = smol.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    ours = smol.apply_chat_template(
        msgs, tokenize=False, add_generation_prompt=True, chat_template=training_template(smol)
    )
    assert own == ours and "You are a helpful AI assistant named SmolLM" in own


def test_assistant_mask_covers_the_answer_and_end_of_turn_only(smol):
    out = smol.apply_chat_template(
        CONVO + [{"role": "assistant", "content": ANSWER}],
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=True,
        chat_template=training_template(smol),
    )
    ids, mask = out["input_ids"], out["assistant_masks"]
    trained = smol.decode([t for t, m in zip(ids, mask, strict=True) if m])
    assert trained == ANSWER + "<|im_end|>"
    untrained = smol.decode([t for t, m in zip(ids, mask, strict=True) if not m])
    assert (
        "What is 6 + 7?" in untrained and "Think first" in untrained and "<think>" not in untrained
    )


def test_phi4_mini_style_template_golden_and_generation_agree(smol):
    tok = AutoTokenizer.from_pretrained(smol.name_or_path)
    tok.add_special_tokens(
        {
            "additional_special_tokens": [
                "<|system|>",
                "<|user|>",
                "<|assistant|>",
                "<|end|>",
                "<|endoftext|>",
            ]
        }
    )
    tok.eos_token = "<|endoftext|>"
    train = tok.apply_chat_template(
        CONVO + [{"role": "assistant", "content": ANSWER}], tokenize=False, chat_template=PHI4_MINI
    )
    assert train == PHI4_GOLDEN
    gen = (
        tok.apply_chat_template(
            CONVO, tokenize=False, add_generation_prompt=True, chat_template=PHI4_MINI
        )
        + ANSWER
        + "<|end|>"
    )
    assert train.startswith(gen)
    ids_gen = tok(gen, add_special_tokens=False)["input_ids"]
    assert tok(train, add_special_tokens=False)["input_ids"][: len(ids_gen)] == ids_gen
    assert tok.convert_ids_to_tokens(ids_gen[-1]) == "<|end|>"


def test_a_template_that_renders_differently_fails_the_contract(smol):
    drifted = training_template(smol).replace(
        "<|im_end|>' }}{% endgeneration %}", "' }}{% endgeneration %}"
    )
    train = smol.apply_chat_template(
        CONVO + [{"role": "assistant", "content": ANSWER}], tokenize=False, chat_template=drifted
    )
    assert not train.startswith(generation_text(smol, CONVO, ANSWER, "<|im_end|>"))


def test_unknown_template_asks_for_a_training_template(smol):
    tok = AutoTokenizer.from_pretrained(smol.name_or_path)
    tok.chat_template = "{{ messages[0]['content'] }}"
    with pytest.raises(ValueError, match="TRAINING_TEMPLATES"):
        training_template(tok)
