"""The openai engine against a reasoning teacher: chat API, reasoning apart from the answer.

vLLM behind `--reasoning-parser` (DeepSeek-R1 and its distills, Qwen3) returns the reasoning in
`reasoning_content` (`reasoning` in newer vLLM) and the answer in `content`. The engine stores both
as one completion, <think>reasoning</think> then the answer, with exactly one think block whatever
part of it the teacher's generation prompt wrote. Served by tests/fault_server.py (faults off).
"""

import pytest
from chat_templates import tokenizer_for
from fault_server import FaultInjectingServer

from rollout.engines import OpenAIEngine, chat_completion_text, make_engine
from rollout.prompts import EMPTY_THINK, PromptConfig, render
from verifiers import verify

R1 = "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B"
QWEN3 = "Qwen/Qwen3-0.6B"
NO_FAULTS = {"p_429": 0.0, "p_500": 0.0, "p_slow": 0.0, "p_drop": 0.0}
PROBLEMS = [
    {"problem_id": f"p{i}", "prompt": f"What is {i} + {i}?", "answer": str(2 * i), "kind": "math"}
    for i in range(1, 5)
]


@pytest.fixture(scope="module")
def tok_dirs(smollm2_path, tmp_path_factory):
    out = {}
    for model in (R1, QWEN3):
        d = tmp_path_factory.mktemp(model.split("/")[-1])
        tokenizer_for(model, smollm2_path).save_pretrained(d)
        out[model] = str(d)
    return out


def answers():
    return {p["prompt"]: p["answer"] for p in PROBLEMS}


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_chat_api_stores_reasoning_and_answer_as_one_think_completion(tok_dirs, field):
    with FaultInjectingServer(**NO_FAULTS, answers=answers(), reasoning_field=field) as server:
        engine = make_engine("openai", tok_dirs[R1], {"urls": [server.url], "api": "chat"})
        prompts = [render(engine.tokenizer, p, PromptConfig(example=False)) for p in PROBLEMS]
        assert all(p.prefix == "<think>\n" for p in prompts)  # R1's prompt opens the block
        out = engine.generate(prompts, 4, [7] * len(prompts), {"max_tokens": 64})
        sent = list(server.chat_requests)
    assert len(sent) == len(PROBLEMS)
    asked = sorted(body["messages"][-1]["content"] for body in sent)  # messages, not a text
    assert [a.split("\n")[0] for a in asked] == [p["prompt"] for p in PROBLEMS]
    verdicts = []
    for problem, samples in zip(PROBLEMS, out, strict=True):
        assert len(samples) == 4
        for s in samples:
            assert s.text.startswith("<think>\nLet me work it out step by step.\nSo the result is ")
            assert s.text.count("<think>") == 1 and "\n</think>\n\nThe answer is \\boxed{" in s.text
            assert s.finish_reason == "stop" and s.num_tokens > 10
            verdicts.append(verify(s.text, problem["answer"]).correct)
    # the reasoning is not mistaken for the answer: both outcomes occur and are judged
    assert True in verdicts and False in verdicts


def test_chat_api_sends_the_think_switch_as_the_templates_own_kwarg(tok_dirs):
    with FaultInjectingServer(**NO_FAULTS) as server:
        engine = OpenAIEngine(tok_dirs[QWEN3], urls=[server.url], api="chat")
        off = render(engine.tokenizer, PROBLEMS[0], PromptConfig(example=False, thinking="off"))
        engine.generate([off], 1, [0], {"max_tokens": 8})
        default = render(engine.tokenizer, PROBLEMS[0], PromptConfig(example=False))
        engine.generate([default], 1, [0], {"max_tokens": 8})
        sent = list(server.chat_requests)
    assert sent[0]["chat_template_kwargs"] == {"enable_thinking": False}
    assert "chat_template_kwargs" not in sent[1]


def test_completions_api_keeps_the_think_text_the_prompt_wrote(tok_dirs):
    with FaultInjectingServer(**NO_FAULTS) as server:
        engine = OpenAIEngine(tok_dirs[R1], urls=[server.url])
        prompt = render(engine.tokenizer, PROBLEMS[0], PromptConfig(example=False))
        (samples,) = engine.generate([prompt], 2, [3], {"max_tokens": 16})
    for s in samples:
        assert s.text.startswith("<think>\nWorking it out... The answer is \\boxed{")


def test_chat_reply_without_a_reasoning_parser():
    assert chat_completion_text(None, "<think>\nhm\n</think>\n\n4") == "<think>\nhm\n</think>\n\n4"
    assert chat_completion_text(None, "4", EMPTY_THINK) == EMPTY_THINK + "4"
    assert chat_completion_text("hm", None) == "<think>\nhm\n</think>\n\n"


def test_chat_api_needs_rendered_prompts_and_a_known_api(tok_dirs):
    with pytest.raises(ValueError, match="engine.kwargs.api must be"):
        OpenAIEngine(tok_dirs[R1], urls=["http://127.0.0.1:1/v1"], api="responses")
