"""The flagship recipe executes: experiment=phi4_mini_reasoning through every stage, at toy size.

rd-pipeline runs the recipe as composed from conf/experiment/phi4_mini_reasoning.yaml, every stage as
its own command: rollout through the openai engine's chat API against a local server that answers
as vLLM's reasoning parser does (tests/fault_server.py, faults off), curation, packing and distill
pretraining, SFT, pairs, DPO, evaluation on the shipped MATH-500 and AIME 2024 copies, the report.
The student is a tiny random model carrying Phi-4-mini's real chat template and special tokens;
then a Qwen3-style and an R1-Distill-style student. Overrides are appended after the recipe's own,
and change only sizes and locations (no hub, no GPU): model folders, the server URL, a local
NuminaMath-format problem file, step counts, lengths, sample counts; the gated GPQA-Diamond is
dropped and the ZeRO-3 launcher is not used on this CPU (tests/test_dpo.py covers it).
"""

import json
import sys
from pathlib import Path

import pytest
from chat_templates import SPECIAL, tiny_model_for, tokenizer_for
from fault_server import FaultInjectingServer
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]
TEACHER = "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B"  # DeepSeek-R1's template family
PROBLEMS = [(a, b) for a, b in ((3, 4), (12, 5), (7, 9), (20, 13), (6, 8), (15, 11))]
NO_FAULTS = {"p_429": 0.0, "p_500": 0.0, "p_slow": 0.0, "p_drop": 0.0}


def numina_file(path: Path) -> Path:
    """A NuminaMath-CoT-shaped file (problem, solution with the gold in \\boxed{}, source)."""
    rows = [
        {
            "problem": f"What is {a} + {b}?",
            "solution": f"{a} + {b} = {a + b}, so the answer is $\\boxed{{{a + b}}}$.",
            "source": "synthetic_math",
        }
        for a, b in PROBLEMS
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def recipe(run_dir: Path, student: str, teacher: str, url: str, problems: Path):
    """The recipe's pipeline config, with toy sizes appended to every stage's overrides."""
    import pipeline.run  # noqa: F401  (registers the schema)

    with initialize_config_module(config_module="conf", version_base="1.3"):
        cfg = compose(
            config_name="pipeline",
            overrides=["experiment=phi4_mini_reasoning", f"run_dir={run_dir}"],
        )
    cfg = OmegaConf.to_object(cfg)
    small_train = [
        "++trainer.max_steps=2",
        "++trainer.per_device_train_batch_size=2",
        "++trainer.gradient_accumulation_steps=1",
        "++trainer.report_to=none",
        "++trainer.logging_steps=1",
    ]
    toy = {
        "rollout": [
            f"engine.kwargs.urls=[{url}]",
            f"model.path={teacher}",
            f"problems.path={problems}",
            "sampling.max_tokens=64",
        ],
        "curate": [f"tokenizer={student}"],
        "pretrain": [f"model.path={student}", "pack.seq_len=256", "pack.workers=1", *small_train],
        "sft": [f"model.path={student}", "++trainer.max_length=512", *small_train],
        "pairs": [f"tokenizer={student}", "max_length=512", "max_pairs=8"],
        "dpo": [
            f"model.path={student}",
            "++trainer.max_length=512",
            "++trainer.precompute_ref_batch_size=2",
            *small_train,
        ],
        "eval": [
            f"model.path={student}",
            f"++checkpoints.base={student}",
            "engine=hf",
            "~benchmarks.gpqa_diamond",  # gated on the hub
            "benchmarks.aime24.path=rollout/data/benchmarks/aime24.jsonl",
            "benchmarks.aime24.limit=2",
            "benchmarks.math500.path=rollout/data/benchmarks/math500.jsonl",
            "benchmarks.math500.limit=4",
            "sampling.n=2",
            "sampling.max_tokens=16",
            "n_boot=200",
        ],
    }
    for stage, extra in toy.items():
        cfg.overrides[stage] = [*cfg.overrides[stage], *extra]
    cfg.launch = {}  # ZeRO-3 on 8 GPUs in the recipe; one CPU process here
    cfg.student = student
    return cfg


@pytest.fixture(scope="module")
def teacher_dir(smollm2_path, tmp_path_factory):
    d = tmp_path_factory.mktemp("teacher-r1")
    tokenizer_for(TEACHER, smollm2_path).save_pretrained(d)
    return str(d)


def run_recipe(student_model, smollm2_path, teacher_dir, tmp_path, capfd):
    from pipeline.run import run

    student = tiny_model_for(student_model, smollm2_path, tmp_path / "student")
    problems = numina_file(tmp_path / "numina.jsonl")
    answers = {f"What is {a} + {b}?": str(a + b) for a, b in PROBLEMS}
    with FaultInjectingServer(**NO_FAULTS, answers=answers, p_correct=0.5, seed=3) as server:
        cfg = recipe(tmp_path / "run", student, teacher_dir, server.url, problems)
        try:
            with initialize_config_module(config_module="conf", version_base="1.3"):
                run(cfg)  # composes every stage's config first, then runs them as commands
        except RuntimeError:
            out, err = capfd.readouterr()
            pytest.fail(f"a stage failed:\n{out[-4000:]}\n{err[-6000:]}")
        requests = list(server.chat_requests)
    return Path(cfg.run_dir), student, requests


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def check_run(run_dir: Path, student: str, model: str, requests: list[dict]):
    from transformers import AutoTokenizer

    from distill.templates import training_example

    tok = AutoTokenizer.from_pretrained(student)
    eot = SPECIAL[model]["end_of_turn"]
    # Rollout: the chat API, reasoning stored inside one think block, both outcomes verified.
    assert requests and all("messages" in body for body in requests)
    rollouts = [
        r for f in sorted((run_dir / "rollout").glob("shard-*.jsonl")) for r in read_jsonl(f)
    ]
    # problems=numina's own columns on the local copy: gold from the solution's \boxed{}
    assert {r["source"] for r in rollouts} == {"NuminaMath-CoT"}
    assert {r["meta"]["source_set"] for r in rollouts} == {"synthetic_math"}
    assert {r["answer"] for r in rollouts} == {str(a + b) for a, b in PROBLEMS}
    assert all(r["completion"].count("<think>") == 1 for r in rollouts)
    assert all(r["completion"].startswith("<think>\nLet me work it out") for r in rollouts)
    assert {r["correct"] for r in rollouts} == {True, False}
    # Curation rendered the corpus with the student's own template; SFT examples train under it.
    pretrain = read_jsonl(run_dir / "curate" / "pretrain.jsonl")
    assert pretrain and all(r["text"].endswith(eot) for r in pretrain)
    assert all(r["text"].count("<think>") == 1 for r in pretrain)
    sft = read_jsonl(run_dir / "curate" / "sft.jsonl")
    assert sft
    for row in sft:
        msgs = row["messages"]
        ex = training_example(tok, msgs[:-1], msgs[-1]["content"], row["switch"])
        assert ex["target"].endswith(eot) and ex["prompt"].count("<think>") <= 1
        assert (ex["prompt"] + ex["target"]).count("<think>") == 1
    # Every training stage saved a checkpoint; pairs and DPO ran on the same rendering.
    for stage in ("pretrain", "sft", "dpo"):
        assert (run_dir / stage / "final" / "config.json").exists(), stage
    pairs = read_jsonl(run_dir / "pairs" / "pairs.jsonl")
    assert pairs and all(p["chosen"].startswith("<think>\n") for p in pairs)
    dpo = json.loads((run_dir / "dpo" / "summary.json").read_text())
    assert dpo["steps"] >= 1 and dpo["pairs"] == len(pairs)
    # Evaluation on the shipped MATH-500 and AIME 2024 copies, with MATH-500's breakdown.
    table = json.loads((run_dir / "eval" / "table.json").read_text())
    assert [r["checkpoint"] for r in table["rows"]] == ["base", "pretrain", "sft", "dpo"]
    assert table["benchmarks"] == ["aime24", "math500"]
    cell = table["rows"][-1]["cells"]["math500"]
    assert set(cell["breakdown"]) == {"subject", "level"} and cell["problems"] == 4
    assert "## math500: pass@1 (%) by level" in (run_dir / "eval" / "table.md").read_text()
    samples = read_jsonl(run_dir / "eval" / "sft" / "math500" / "samples.jsonl")
    assert all(s["completion"].startswith("<think>\n") for s in samples)  # prompt.thinking=on
    report = (run_dir / "report.md").read_text()
    assert "Phi-4-mini reasoning" in report and "| dpo |" in report


@pytest.mark.slow  # ~3-6 min on 2 shared cores: eight processes, each loading torch and TRL
def test_phi4_mini_recipe_runs_through_every_stage(smollm2_path, teacher_dir, tmp_path, capfd):
    model = "microsoft/Phi-4-mini-instruct"
    run_dir, student, requests = run_recipe(model, smollm2_path, teacher_dir, tmp_path, capfd)
    check_run(run_dir, student, model, requests)
    # Phi-4-mini's turn ends with <|end|>; its <|endoftext|> after the conversation is pack's EOS
    text = read_jsonl(run_dir / "curate" / "pretrain.jsonl")[0]["text"]
    assert text.startswith("<|user|>") and "<|end|><|assistant|><think>\n" in text


@pytest.mark.slow
@pytest.mark.parametrize("model", ["Qwen/Qwen3-0.6B", TEACHER])
def test_recipe_with_qwen3_and_r1_distill_students(
    model, smollm2_path, teacher_dir, tmp_path, capfd
):
    run_dir, student, requests = run_recipe(model, smollm2_path, teacher_dir, tmp_path, capfd)
    check_run(run_dir, student, model, requests)
    sft = read_jsonl(run_dir / "curate" / "sft.jsonl")
    from transformers import AutoTokenizer

    from distill.templates import training_example

    tok = AutoTokenizer.from_pretrained(student)
    direct = [r for r in sft if r["mode"] == "direct"]
    for row in direct:
        ex = training_example(tok, row["messages"][:-1], row["messages"][-1]["content"], "direct")
        if model == TEACHER:  # R1's prompt opens <think>: the target closes it, never reopens
            assert ex["prompt"].endswith("<｜Assistant｜><think>\n")
            assert ex["target"].startswith("\n</think>\n\n")
        else:  # Qwen3's own switch: enable_thinking=False writes the empty block in the prompt
            assert ex["prompt"].endswith("<think>\n\n</think>\n\n")
            assert "/no_think" not in ex["prompt"] and "<think>" not in ex["target"]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
