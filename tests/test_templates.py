"""Golden tests: any model's own chat template renders a training example exactly as generation does.

Every template in tests/data/chat_templates/ (the ones Phi-4-mini, Phi-4-reasoning, Phi-3.5, Qwen2.5,
Qwen3, Llama-3.1/3.2, DeepSeek-R1-Distill, SmolLM2 and gemma-2 ship, byte for byte) on a tokenizer
with SmolLM2's vocabulary plus that model's special tokens: the training text is the generation
prompt, then the completion, then the template's end-of-turn; the loss mask covers exactly the
completion and the end-of-turn; system prompts, multi-turn histories and direct (no-think) answers
come out right; the hybrid switch goes through each model's own mechanism.
"""

import json

import pytest
from chat_templates import DATA, SPECIAL, TEMPLATES, tokenizer_for

from distill.templates import IGNORE, end_of_turn_ids, training_example, training_text
from rollout.prompts import (
    EMPTY_THINK,
    THINK_OPEN,
    end_of_turn,
    generation_prompt,
    think_switch,
    training_parts,
)

MODELS = sorted(TEMPLATES)
SYSTEM = {"role": "system", "content": "Be brief."}
USER = {"role": "user", "content": "What is 6 + 7?"}
COMPLETION = "<think>\n6 + 7 = 13.\n</think>\n\nThe answer is \\boxed{13}."
ANSWER = "The answer is \\boxed{13}."
HISTORY = [
    {"role": "user", "content": "What is 1 + 1?"},
    {"role": "assistant", "content": "<think>\nOne and one.\n</think>\n\n2"},
]
PHI4R_SYSTEM = (DATA / "microsoft--Phi-4-reasoning.jinja").read_text().split("{% for")[0]
T = "<think>\n6 + 7 = 13.\n</think>\n\nThe answer is \\boxed{13}."

# The training text of [system, user] + COMPLETION for every template, written out by hand from the
# templates' text (gemma-2 has no system role: [user] only).
GOLDEN = {
    "microsoft/Phi-4-mini-instruct": (
        f"<|system|>Be brief.<|end|><|user|>What is 6 + 7?<|end|><|assistant|>{T}<|end|>"
    ),
    "microsoft/Phi-4-mini-reasoning": (
        "<|system|>Your name is Phi, an AI math expert developed by Microsoft. Be brief.<|end|>"
        f"<|user|>What is 6 + 7?<|end|><|assistant|>{T}<|end|>"
    ),
    "microsoft/Phi-4-reasoning": (  # ignores system messages: its own is hard-coded
        f"{PHI4R_SYSTEM}<|im_start|>user<|im_sep|>What is 6 + 7?<|im_end|>"
        f"<|im_start|>assistant<|im_sep|>{T}<|im_end|>"
    ),
    "microsoft/Phi-3.5-mini-instruct": (
        f"<|system|>\nBe brief.<|end|>\n<|user|>\nWhat is 6 + 7?<|end|>\n<|assistant|>\n{T}<|end|>"
    ),
    "Qwen/Qwen2.5-7B-Instruct": (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 6 + 7?<|im_end|>\n"
        f"<|im_start|>assistant\n{T}<|im_end|>"
    ),
    "Qwen/Qwen3-0.6B": (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 6 + 7?<|im_end|>\n"
        f"<|im_start|>assistant\n{T}<|im_end|>"
    ),
    "meta-llama/Llama-3.1-8B-Instruct": (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
        "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nBe brief.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nWhat is 6 + 7?<|eot_id|>"
        f"<|start_header_id|>assistant<|end_header_id|>\n\n{T}<|eot_id|>"
    ),
    "meta-llama/Llama-3.2-3B-Instruct": (  # the date is pinned (RENDER_KWARGS), not today's
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
        "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nBe brief.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nWhat is 6 + 7?<|eot_id|>"
        f"<|start_header_id|>assistant<|end_header_id|>\n\n{T}<|eot_id|>"
    ),
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B": (  # one <think>: the generation prompt's
        "<｜begin▁of▁sentence｜>Be brief.<｜User｜>What is 6 + 7?<｜Assistant｜>"
        f"{T}<｜end▁of▁sentence｜>"
    ),
    "HuggingFaceTB/SmolLM2-135M-Instruct": (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 6 + 7?<|im_end|>\n"
        f"<|im_start|>assistant\n{T}<|im_end|>"
    ),
    "google/gemma-2-2b-it": (
        f"<bos><start_of_turn>user\nWhat is 6 + 7?<end_of_turn>\n<start_of_turn>model\n{T}<end_of_turn>"
    ),
}
NO_SYSTEM = {"google/gemma-2-2b-it"}  # raises "System role not supported", by design


@pytest.fixture(scope="module")
def toks(smollm2_path):
    return {m: tokenizer_for(m, smollm2_path) for m in MODELS}


def convo(model: str) -> list[dict]:
    return [USER] if model in NO_SYSTEM else [SYSTEM, USER]


def test_every_collected_template_is_covered():
    assert len(MODELS) == 11 and set(GOLDEN) == set(MODELS)


@pytest.mark.parametrize("model", MODELS)
def test_end_of_turn_is_found_by_rendering(toks, model):
    tok = toks[model]
    # special_tokens.json is an independent record of each model's end-of-turn token
    assert end_of_turn(tok) == SPECIAL[model]["end_of_turn"]
    assert len(end_of_turn_ids(tok)) == 1  # one special token, the one generation stops on


@pytest.mark.parametrize("model", MODELS)
def test_training_text_is_the_golden_string(toks, model):
    assert training_text(toks[model], convo(model), COMPLETION) == GOLDEN[model]


@pytest.mark.parametrize("model", MODELS)
def test_generation_prompt_plus_completion_plus_end_of_turn_is_the_training_text(toks, model):
    tok, msgs = toks[model], convo(model)
    gen = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True, **DATE)
    prompt = generation_prompt(tok, msgs)
    assert prompt == gen  # nothing added by default: the template's own generation prompt
    train = training_text(tok, msgs, COMPLETION)
    eot = SPECIAL[model]["end_of_turn"]
    if model.startswith("deepseek-ai/"):
        # Trap: R1-Distill's generation prompt already opens <think>; the completion must not
        # open a second one, and the template's own render of the conversation drops the
        # reasoning (everything before </think>), which would train the model without it.
        assert gen.endswith("<｜Assistant｜><think>\n") and prompt.prefix == THINK_OPEN
        assert train == gen + COMPLETION[len(THINK_OPEN) :] + eot
        assert train.count("<think>") == 1
        full = tok.apply_chat_template(msgs + [assistant(COMPLETION)], tokenize=False)
        assert "6 + 7 = 13" not in full
    else:
        assert prompt.prefix == "" and train == gen + COMPLETION + eot
        # The template's own render of the whole conversation agrees: the training text is its
        # start (it may add what follows the turn: ChatML's newline, Phi's <|endoftext|>).
        full = tok.apply_chat_template(msgs + [assistant(COMPLETION)], tokenize=False, **DATE)
        assert full.startswith(train)
        assert full[len(train) :] in ("", "\n", tok.eos_token, "\n" + tok.eos_token)


DATE = {"date_string": "26 Jul 2024"}


def assistant(content: str) -> dict:
    return {"role": "assistant", "content": content}


def trained(tok, ex) -> str:
    return tok.decode(
        [t for t, lab in zip(ex["input_ids"], ex["labels"], strict=True) if lab != IGNORE]
    )


@pytest.mark.parametrize("model", MODELS)
def test_mask_covers_exactly_the_completion_and_end_of_turn(toks, model):
    tok, msgs = toks[model], convo(model)
    ex = training_example(tok, msgs, COMPLETION)
    prompt, target = training_parts(tok, msgs, COMPLETION)
    n = ex["prompt_tokens"]
    # token for token what generation sees: the prompt tokenized alone, as an engine does
    assert ex["input_ids"][:n] == tok(str(prompt), add_special_tokens=False)["input_ids"]
    assert ex["labels"][:n] == [IGNORE] * n
    assert ex["labels"][n:] == ex["input_ids"][n:] and IGNORE not in ex["labels"][n:]
    assert trained(tok, ex) == target and target.endswith(SPECIAL[model]["end_of_turn"])
    assert ex["input_ids"][-1] == tok.convert_tokens_to_ids(SPECIAL[model]["end_of_turn"])
    assert "What is 6 + 7?" not in trained(tok, ex) and ANSWER in trained(tok, ex)
    if model not in NO_SYSTEM and model != "microsoft/Phi-4-reasoning":
        assert "Be brief." in tok.decode(ex["input_ids"][:n])  # the system text: never trained


@pytest.mark.parametrize("model", MODELS)
def test_multi_turn_history_stays_in_the_prompt(toks, model):
    tok = toks[model]
    msgs = HISTORY + [USER]
    ex = training_example(tok, msgs, COMPLETION)
    head = tok.decode(ex["input_ids"][: ex["prompt_tokens"]])
    assert "What is 1 + 1?" in head and "What is 6 + 7?" in head
    assert trained(tok, ex) == training_parts(tok, msgs, COMPLETION)[1]
    assert trained(tok, ex).count("13") == 2 and "1 + 1" not in trained(tok, ex)
    if model == "Qwen/Qwen3-0.6B":
        # Trap: Qwen3 strips reasoning from earlier assistant turns, and keeps it in the last one
        assert "One and one." not in head and "<|im_start|>assistant\n2<|im_end|>" in head
        assert trained(tok, ex).startswith("<think>\n6 + 7 = 13.")
    elif model.startswith("deepseek-ai/"):
        assert "One and one." not in head  # its template drops earlier reasoning too
    else:
        assert "One and one." in head


@pytest.mark.parametrize("model", MODELS)
def test_direct_example_through_the_models_own_switch(toks, model):
    tok, msgs = toks[model], convo(model)
    direct = EMPTY_THINK + ANSWER
    prompt, target = training_parts(tok, msgs, direct, switch="direct")
    eot = SPECIAL[model]["end_of_turn"]
    if model == "Qwen/Qwen3-0.6B":  # enable_thinking=False: the template writes the empty block
        assert think_switch(tok) and prompt.template_kwargs == {"enable_thinking": False}
        assert (
            prompt.endswith("<|im_start|>assistant\n" + EMPTY_THINK) and "/no_think" not in prompt
        )
        assert target == ANSWER + eot
    elif model.startswith("deepseek-ai/"):  # the prompt opened <think>: the rest closes it
        assert not think_switch(tok) and prompt.endswith("<｜Assistant｜><think>\n")
        assert target == "\n</think>\n\n" + ANSWER + eot
    else:  # no switch of its own: the prompt-level flag, and the empty block is learned
        assert not think_switch(tok)
        assert "What is 6 + 7? /no_think" in prompt and target == direct + eot
    # the think example under the switch
    prompt, target = training_parts(tok, msgs, COMPLETION, switch="think")
    if model == "Qwen/Qwen3-0.6B":
        assert prompt.template_kwargs == {"enable_thinking": True} and target == COMPLETION + eot
    elif not model.startswith("deepseek-ai/"):
        assert "What is 6 + 7? /think" in prompt and target == COMPLETION + eot


@pytest.mark.parametrize("model", MODELS)
def test_generation_think_switch_never_doubles_a_think_block(toks, model):
    tok, msgs = toks[model], convo(model)
    on = generation_prompt(tok, msgs, "on")
    off = generation_prompt(tok, msgs, "off")
    base = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True, **DATE)
    assert on.endswith(THINK_OPEN) and on.prefix == THINK_OPEN
    assert off.endswith(EMPTY_THINK) and off.prefix == EMPTY_THINK
    assert (
        on.count("<think>")
        == off.count("<think>")
        == base.count("<think>") + (0 if base.endswith(THINK_OPEN) else 1)
    )


def test_a_system_prompt_the_template_refuses_is_a_clear_error(toks):
    with pytest.raises(ValueError, match="System role not supported.*system=null"):
        training_example(toks["google/gemma-2-2b-it"], [SYSTEM, USER], COMPLETION)


def test_a_completion_without_the_think_block_the_prompt_opened_is_an_error(toks):
    with pytest.raises(ValueError, match="does not start with '<think>\\\\n'"):
        training_parts(toks["deepseek-ai/DeepSeek-R1-Distill-Qwen-32B"], [USER], ANSWER)


def test_templates_without_turns_or_without_a_template_are_clear_errors(smollm2_path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(smollm2_path)
    tok.chat_template = "{{ messages[0]['content'] }}"
    with pytest.raises(ValueError, match="drops the assistant's text"):
        end_of_turn(tok)
    tok.chat_template = None
    with pytest.raises(ValueError, match="has no chat template"):
        generation_prompt(tok, [USER])


# ----------------------------------------------------------------------------- rd-curate, any student

ISSUE_MODELS = [  # rd-curate stopped on all four with the old per-model table
    "microsoft/Phi-4-mini-instruct",
    "Qwen/Qwen3-0.6B",
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B",
    "meta-llama/Llama-3.2-3B-Instruct",
]


def small_store(directory):
    from rollout.store import ShardWriter

    records = []
    for p in range(4):
        for i in range(3):
            think = i != 2  # one plain completion per problem: it can only be direct
            text = (
                f"<think>\nStep {p}.{i}: add {p} and {p + i} carefully.\n</think>\n\n"
                if think
                else ""
            ) + f"The answer is \\boxed{{{2 * p + i}}}."
            records.append(
                {
                    "problem_id": f"q{p}",
                    "prompt": f"What is {p} + {p + i} plus the {i} extra marbles in bag {p}?",
                    "answer": str(2 * p + i),
                    "kind": "math",
                    "source": "synthetic",
                    "meta": {"difficulty": 1},
                    "rollout_id": f"q{p}:r0:i{i}",
                    "model": "teacher",
                    "completion": text,
                    "finish_reason": "stop",
                    "num_tokens": 20,
                    "round": 0,
                    "index": i,
                    "seed": 0,
                    "sampling": {"n": 3},
                    "correct": p != 3 or i == 0,
                    "verdict": {"verifier": "math"},
                }
            )
    ShardWriter(directory).append(records)


@pytest.mark.parametrize("model", ISSUE_MODELS)
def test_rd_curate_and_sft_rows_for_the_students_that_used_to_fail(toks, model, tmp_path):
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    from distill.curate import run
    from distill.sft import tokenize_rows

    tok = toks[model]
    tok.save_pretrained(tmp_path / "tok")
    small_store(tmp_path / "store")
    with initialize_config_module(config_module="conf", version_base="1.3"):
        cfg = compose(
            config_name="curate",
            overrides=[
                f"run_dir={tmp_path}",
                f"input_dir={tmp_path / 'store'}",
                f"tokenizer={tmp_path / 'tok'}",
                "plot=false",
                "decontam.sets=[]",
                "decontam.benchmarks=[]",
                "sft.near_dup_threshold=null",
                "sft.direct_share=0.5",
            ],
        )
    summary = run(OmegaConf.to_object(cfg))
    eot = SPECIAL[model]["end_of_turn"]
    assert summary["pretrain_examples"] == 10 and summary["direct"] >= 4
    pretrain = [json.loads(x) for x in (tmp_path / "curate" / "pretrain.jsonl").open()]
    for row in pretrain:  # completions as written, at most one think block, always closed
        assert row["text"].endswith(eot) and row["text"].count("</think>") <= 1
        assert row["text"].count("<think>") == row["text"].count("</think>")
        if model.startswith("deepseek-ai/"):  # its prompt opens <think>: a plain one gets a block
            assert row["text"].count("</think>") == 1
    rows = [json.loads(x) for x in (tmp_path / "curate" / "sft.jsonl").open()]
    tokenized = tokenize_rows(tok, rows)  # what rd-sft hands TRL
    for row, t in zip(rows, tokenized, strict=True):
        ex = training_example(
            tok, row["messages"][:-1], row["messages"][-1]["content"], row["switch"]
        )
        assert t["input_ids"] == ex["input_ids"] and t["labels"] == ex["labels"]
        assert ex["target"].endswith(eot) and (ex["prompt"] + ex["target"]).count("<think>") == 1
        if row["mode"] == "direct":
            assert "6 + 7" not in ex["target"] and "Step" not in ex["target"]
            assert ex["target"].startswith(("The answer", "<think>\n\n</think>", "\n</think>"))
