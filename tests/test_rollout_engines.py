"""The real engines on the real small model: vLLM offline, vLLM's OpenAI server, transformers.

Slow (engine start-up ~40 s each, once per session); run in CI, skipped with -m "not slow".
"""

import pytest

from rollout.farm import Farm, RejectionConfig
from rollout.problems import ProblemsConfig, load_problems
from rollout.prompts import PromptConfig, render
from rollout.store import ShardWriter

pytestmark = pytest.mark.slow

EASY = ProblemsConfig(
    source="synthetic", generators=["arithmetic"], difficulty=[1], count=12, seed=0
)


def prompts_for(tokenizer, problems):
    return [render(tokenizer, p, PromptConfig()) for p in problems]


def test_vllm_engine_samples_n_per_prompt_reproducibly(vllm_engine):
    problems = load_problems(EASY)[:4]
    texts = prompts_for(vllm_engine.tokenizer, problems)
    params = {"temperature": 0.8, "max_tokens": 48}
    a = vllm_engine.generate(texts, 3, [11, 12, 13, 14], params)
    assert [len(x) for x in a] == [3, 3, 3, 3]
    assert all(s.finish_reason in ("stop", "length") and s.num_tokens > 0 for x in a for s in x)
    # Same seeds in another batch order: the same samples (a prompt's samples depend on its seed only).
    b = vllm_engine.generate(texts[::-1], 3, [14, 13, 12, 11], params)[::-1]
    assert [[s.text for s in x] for x in a] == [[s.text for s in x] for x in b]
    c = vllm_engine.generate(texts, 3, [21, 22, 23, 24], params)
    assert [[s.text for s in x] for x in a] != [[s.text for s in x] for x in c]


def test_farm_on_vllm_resamples_only_unsolved_problems(vllm_engine, tmp_path):
    rc = RejectionConfig(k_correct=1, max_rounds=2, max_samples=8)
    farm = Farm(
        vllm_engine,
        ShardWriter(tmp_path),
        "smollm2_135m",
        PromptConfig(),
        {"temperature": 0.7, "max_tokens": 96},
        4,
        rc,
        chunk_size=6,
    )
    farm.run(load_problems(EASY))
    rows = list(farm.writer.records())
    solved_r0 = {r["problem_id"] for r in rows if r["round"] == 0 and r["correct"]}
    in_r1 = {r["problem_id"] for r in rows if r["round"] == 1}
    assert solved_r0, "SmolLM2 with a worked example solves some level-1 arithmetic"
    assert not solved_r0 & in_r1, "a done problem was sampled again"
    assert in_r1 == {r["problem_id"] for r in rows} - solved_r0
    assert any(r["correct"] is False for r in rows), "wrong answers are kept for preference pairs"


def test_openai_engine_against_a_real_vllm_server(vllm_server, smollm2_path, tmp_path):
    from rollout.engines import OpenAIEngine

    engine = OpenAIEngine(smollm2_path, urls=[vllm_server], served_model="smollm2", concurrency=4)
    rc = RejectionConfig(k_correct=1, max_rounds=1, max_samples=8)
    farm = Farm(
        engine,
        ShardWriter(tmp_path),
        "smollm2_135m",
        PromptConfig(),
        {"temperature": 0.7, "max_tokens": 64},
        2,
        rc,
        chunk_size=4,
    )
    farm.run(load_problems(EASY)[:6])
    rows = list(farm.writer.records())
    assert len(rows) == 12 and all(
        r["completion"] and r["verdict"]["verifier"] == "math" for r in rows
    )
    assert any(r["correct"] for r in rows)
    # Per-request seeds reach the server: the same request twice gives the same samples.
    texts = prompts_for(engine.tokenizer, load_problems(EASY)[:2])
    a = engine.generate(texts, 2, [5, 6], {"temperature": 0.9, "max_tokens": 32})
    b = engine.generate(texts, 2, [5, 6], {"temperature": 0.9, "max_tokens": 32})
    assert [[s.text for s in x] for x in a] == [[s.text for s in x] for x in b]


def test_hf_engine_on_the_real_model(smollm2_path):
    from rollout.engines import HFEngine

    engine = HFEngine(smollm2_path)
    texts = prompts_for(engine.tokenizer, load_problems(EASY)[:2])
    out = engine.generate(texts, 2, [1, 2], {"temperature": 0.7, "max_tokens": 24})
    assert [len(x) for x in out] == [2, 2] and all(s.text for x in out for s in x)
    again = engine.generate(texts, 2, [1, 2], {"temperature": 0.7, "max_tokens": 24})
    assert [[s.text for s in x] for x in out] == [[s.text for s in x] for x in again]
