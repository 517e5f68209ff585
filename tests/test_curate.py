"""rd-curate on a hand-made rollout store: every selection rule, the hybrid format, the report, reruns.

The store holds problems built to hit one rule each (duplicates, a near-duplicate, wrong and unjudged
rollouts, a long and a one-line completion, a copy of a hand-written eval problem, three sources);
the tokenizer is the real SmolLM2 one with its chat template. Runs take about a second each.
"""

import json
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from distill.curate import CurateConfig, run
from distill.templates import training_example
from rollout.prompts import EMPTY_THINK, PromptConfig, messages, split_completion
from rollout.store import ShardWriter
from selection.decontam import EvalIndex, checked_sets, words
from verifiers.jsonl import load_jsonl

HANDWRITTEN = Path(__file__).resolve().parents[1] / "rollout" / "data" / "handwritten.jsonl"
FILLER = """
first we add the tens then units carry one so total becomes next check each step again because
numbers line up column sum gives result write it down careful count items left right multiply
divide subtract half double apples boxes share friends equal group remainder value
"""
VOCAB = FILLER.split()


def reasoning(seed: int, n_words: int = 40) -> str:
    """Distinct filler reasoning: random word runs share almost no 5-gram with each other."""
    rng = random.Random(seed)
    w = [rng.choice(VOCAB) for _ in range(n_words)]
    return "\n".join(" ".join(w[i : i + 10]) for i in range(0, n_words, 10))


def answer_line(x) -> str:
    return f"The answer is \\boxed{{{x}}}."


def rollout(pid, prompt, source, i, completion, correct=True, finish="stop"):
    return {
        "problem_id": pid,
        "prompt": prompt,
        "answer": "1",
        "kind": "math",
        "source": source,
        "meta": {"difficulty": 1},
        "rollout_id": f"{pid}:r0:i{i}",
        "model": "teacher",
        "completion": completion,
        "finish_reason": finish,
        "num_tokens": len(completion.split()),
        "round": 0,
        "index": i,
        "seed": 0,
        "sampling": {"n": 4, "temperature": 0.7},
        "correct": correct,
        "verdict": {"verifier": "math", "extracted": "1", "reason": ""},
    }


CONTAM_PROMPT = json.loads(HANDWRITTEN.read_text().splitlines()[15])["prompt"]  # hand-016
PROMPTS = {
    "easy": "Tom packs seventeen red apples and twenty six green apples into one basket for the fair. How many apples?",
    "mid": "A gardener plants nine rows of tulips with eleven bulbs in every row along the fence. How many bulbs?",
    "hard": "Find the number of ordered pairs of positive integers whose product equals seventy two and whose sum is odd.",
    "long": "A train leaves a small station every forty minutes starting at dawn. How many trains leave before noon?",
    "short": "Mia owns four kites and buys five more kites at the beach market on Sunday. How many kites now?",
    "contam": CONTAM_PROMPT,
    "many": "Each of eight shelves in the library holds thirty books and two shelves are empty. How many books?",
    "think": "Sam walks three laps around a park whose loop is four hundred meters long. How far does Sam walk?",
}
SOURCES = {
    "easy": "alpha",
    "mid": "alpha",
    "hard": "beta",
    "long": "beta",
    "short": "beta",
    "contam": "gamma",
    "many": "gamma",
    "think": "gamma",
}


def build_store(directory: Path) -> list[dict]:
    def r(pid, i, completion, correct=True, finish="stop"):
        return rollout(pid, PROMPTS[pid], SOURCES[pid], i, completion, correct, finish)

    base = reasoning(1) + "\n" + answer_line(43)
    near = base + " Done."  # one extra word at the end: one new shingle, Jaccard ~0.98
    records = [
        r("easy", 0, base),
        r("easy", 1, "  " + base.replace("\n", " \n ") + "  "),  # the same after whitespace
        r("easy", 2, near),
        r("easy", 3, reasoning(2) + "\n" + answer_line(43)),
        r("easy", 4, reasoning(3) + "\n" + answer_line(43)),
        r("mid", 0, reasoning(10) + "\n" + answer_line(99)),
        r("mid", 1, reasoning(11) + "\n" + answer_line(99)),
        r("mid", 2, reasoning(12) + "\n" + answer_line(98), correct=False),
        r("mid", 3, reasoning(13) + "\n" + answer_line(99), correct=None),
        r("hard", 0, reasoning(20) + "\n" + answer_line(6)),
        r("hard", 1, reasoning(21) + "\n" + answer_line(5), correct=False),
        r("hard", 2, reasoning(22) + "\n" + answer_line(4), correct=False),
        r("hard", 3, reasoning(23, 60), correct=False, finish="length"),
        r("long", 0, reasoning(30, 400) + "\n" + answer_line(18)),
        r("long", 1, reasoning(31) + "\n" + answer_line(18)),
        r("short", 0, answer_line(9)),
        r("contam", 0, reasoning(40) + "\n" + answer_line(13)),
        r("contam", 1, reasoning(41) + "\n" + answer_line(13)),
        *[r("many", i, reasoning(50 + i) + "\n" + answer_line(240)) for i in range(6)],
        r("think", 0, "<think>\n" + reasoning(60) + "\n</think>\n\n" + answer_line(1200)),
        r("think", 1, "<think>\n" + reasoning(61) + "\n</think>\n\n" + answer_line(1200)),
    ]
    ShardWriter(directory).append(records)
    return records


def make_cfg(overrides: list[str]) -> CurateConfig:
    """The shipped conf/curate.yaml with overrides, as rd-curate composes it."""
    with initialize_config_module(config_module="conf", version_base="1.3"):
        cfg = compose(config_name="curate", overrides=overrides)
    return OmegaConf.to_object(cfg)  # type: ignore[return-value]


def read_jsonl(path: Path) -> list[dict]:
    return load_jsonl(path)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("farm") / "rollout"
    build_store(d)
    return d


@pytest.fixture(scope="module")
def tok(smollm2_path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(smollm2_path)


def curate(tmp_path, store, smollm2_path, *overrides) -> tuple[dict, Path]:
    cfg = make_cfg(
        [
            f"run_dir={tmp_path}",
            f"input_dir={store}",
            f"tokenizer={smollm2_path}",
            "plot=false",
            *overrides,
        ]
    )
    summary = run(cfg)
    return summary, tmp_path / "curate"


@pytest.fixture(scope="module")
def default_run(store, smollm2_path, tmp_path_factory):
    """The shipped defaults (plot on) over the store: most rules are checked on this one run."""
    run_dir = tmp_path_factory.mktemp("default")
    summary, out = curate(run_dir, store, smollm2_path, "plot=true")
    report = json.loads((out / "report.json").read_text())
    return {
        "summary": summary,
        "out": out,
        "report": report,
        "pretrain": read_jsonl(out / "pretrain.jsonl"),
        "sft": read_jsonl(out / "sft.jsonl"),
        "run_dir": run_dir,
    }


def step(report_part: dict, name: str) -> dict:
    return next(s for s in report_part["steps"] if s["step"] == name)


# ----------------------------------------------------------------------------- the default run


def test_only_correct_rollouts_and_the_drops_are_counted(default_run):
    ids = {r["rollout_id"] for r in default_run["pretrain"] + default_run["sft"]}
    for bad in ("mid:r0:i2", "mid:r0:i3", "hard:r0:i1", "hard:r0:i2", "hard:r0:i3"):
        assert bad not in ids
    for part in ("pretrain", "sft"):
        first = step(default_run["report"][part], "correct")
        assert first == {
            "step": "correct",
            "in": 26,
            "kept": 21,
            "dropped": {"wrong": 4, "unjudged": 1},
        }


def test_exact_duplicates_and_near_duplicates(default_run):
    pretrain = {r["rollout_id"] for r in default_run["pretrain"]}
    sft = {r["rollout_id"] for r in default_run["sft"]}
    assert "easy:r0:i0" in pretrain and "easy:r0:i1" not in pretrain  # whitespace-only copy
    assert "easy:r0:i2" in pretrain  # the corpus drops exact copies only
    assert "easy:r0:i1" not in sft and "easy:r0:i2" not in sft
    assert {"easy:r0:i0", "easy:r0:i3", "easy:r0:i4"} <= sft
    rep = default_run["report"]
    assert step(rep["pretrain"], "exact dedup")["dropped"] == {"exact duplicate": 1}
    assert step(rep["sft"], "near dedup")["dropped"] == {"near duplicate": 1}
    (pair,) = rep["sft"]["near_duplicates"]["examples"]
    assert pair["rollout_id"] == "easy:r0:i2" and pair["duplicate_of"] == "easy:r0:i0"
    assert pair["similarity"] >= 0.9


def test_cap_per_problem_keeps_the_first_in_rollout_order(default_run):
    many_sft = [r["rollout_id"] for r in default_run["sft"] if r["problem_id"] == "many"]
    assert many_sft == [f"many:r0:i{i}" for i in range(4)]  # sft.per_problem_cap: 4
    assert sum(r["problem_id"] == "many" for r in default_run["pretrain"]) == 6  # cap 8
    assert step(default_run["report"]["sft"], "per-problem cap")["dropped"] == {
        "over per-problem cap": 2
    }


def test_decontamination_removes_the_copied_eval_problem_and_names_the_match(default_run):
    assert all(r["problem_id"] != "contam" for r in default_run["pretrain"] + default_run["sft"])
    dc = default_run["report"]["decontamination"]
    (removed,) = dc["removed"]
    assert removed["problem_id"] == "contam" and removed["eval_set"] == "builtin"
    assert removed["eval_problem_id"] == "hand-016" and removed["rollouts"] == 2
    assert len(removed["ngram"].split()) == 13 and removed["ngram"] in " ".join(
        words(CONTAM_PROMPT)
    )
    assert [s["set"] for s in dc["sets"]][0] == "builtin"
    # The hub benchmarks in the default config are skipped offline, each with its reason, not fatal.
    assert all(
        s["set"].startswith("hub:") and "could not load" in s["reason"] for s in dc["skipped"]
    )
    # the held-out set (conf/problems/heldout.yaml, decontam.heldout) was checked too, last
    assert dc["sets"][-1] == {
        "set": "synthetic(seed=1000, count=200, difficulty=[1, 2, 3], generators=all)",
        "problems": 200,
    }
    # MATH-500 and AIME 2024 come from the shipped copies, offline too.
    sizes = {s["set"].split("/")[-1]: s["problems"] for s in dc["sets"]}
    assert sizes.get("MATH-500:test") == 500 and sizes.get("aime_2024:train") == 30, dc["sets"]
    md = (default_run["out"] / "report.md").read_text()
    assert "hand-016" in md and removed["ngram"] in md
    for part in ("pretrain", "sft"):
        assert step(default_run["report"][part], "decontaminate")["dropped"] == {"contaminated": 2}


def test_pretrain_text_is_the_generation_prompt_completion_and_end_of_turn(default_run, tok):
    row = next(r for r in default_run["pretrain"] if r["rollout_id"] == "mid:r0:i0")
    record = {"prompt": PROMPTS["mid"], "kind": "math"}
    completion = reasoning(10) + "\n" + answer_line(99)
    msgs = messages(record, PromptConfig(example=False))
    expected = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    assert row["text"] == expected + completion + "<|im_end|>"
    assert row["text"].startswith("<|im_start|>system\n")
    assert f"<|im_start|>assistant\n{completion}<|im_end|>" in row["text"]
    assert set(row) == {"text", "problem_id", "rollout_id"}


def test_hybrid_modes_direct_share_from_the_easiest_and_the_switch(default_run, tok):
    sft = default_run["sft"]
    assert len(sft) == 15
    modes = Counter(r["mode"] for r in sft)
    assert modes == {"think": 12, "direct": 3}  # round(0.2 * 15)
    by_id = {r["rollout_id"]: r for r in sft}
    assert by_id["short:r0:i0"]["mode"] == "direct"  # a one-line completion has no reasoning
    assert default_run["report"]["sft"]["direct_without_reasoning"] == 1
    think_rates = [r["difficulty"] for r in sft if r["mode"] == "think"]
    direct_rates = [r["difficulty"] for r in sft if r["mode"] == "direct"]
    assert min(direct_rates) >= max(think_rates)
    for r in sft:
        user, assistant = r["messages"][-2], r["messages"][-1]
        assert user["role"] == "user" and assistant["role"] == "assistant"
        # SmolLM2's template has no think switch of its own: the /think or /no_think flag goes on
        # the user turn when the example is rendered for training
        assert r["switch"] == r["mode"] and not user["content"].endswith("think")
        ex = training_example(tok, r["messages"][:-1], assistant["content"], r["switch"])
        flag = " /no_think" if r["mode"] == "direct" else " /think"
        assert f"{flag}<|im_end|>\n<|im_start|>assistant\n" in ex["prompt"]
        assert ex["target"] == assistant["content"] + "<|im_end|>"
        if r["mode"] == "direct":
            assert assistant["content"].startswith(EMPTY_THINK)
            assert assistant["content"].count("\n") == 4  # the empty block and one answer line
        else:
            assert "Put your final answer" in user["content"]
            assert (
                assistant["content"].startswith("<think>\n")
                and "\n</think>\n\n" in assistant["content"]
            )
        assert r["num_tokens"] == len(
            tok(assistant["content"], add_special_tokens=False)["input_ids"]
        )
        assert set(r) == {
            "messages",
            "switch",
            "problem_id",
            "rollout_id",
            "source",
            "difficulty",
            "mode",
            "num_tokens",
        }
    mid = by_id["mid:r0:i0"]  # no think block in the completion: reasoning goes inside one
    assert mid["mode"] == "think" and mid["difficulty"] == pytest.approx(
        2 / 3
    )  # unjudged not counted
    assert mid["messages"][-1]["content"] == (
        "<think>\n" + reasoning(10) + "\n</think>\n\n" + answer_line(99)
    )
    think = by_id["think:r0:i0"]  # already has one: kept as it is
    if think["mode"] == "think":
        assert think["messages"][-1]["content"] == (
            "<think>\n" + reasoning(60) + "\n</think>\n\n" + answer_line(1200)
        )
    else:
        assert think["messages"][-1]["content"] == EMPTY_THINK + answer_line(1200)


def test_report_summary_plot_and_config_are_written(default_run):
    out, rep = default_run["out"], default_run["report"]
    for name in ("report.md", "lengths.png", "summary.json", "config.yaml"):
        assert (out / name).stat().st_size > 0
    assert (out / "lengths.png").read_bytes()[:4] == b"\x89PNG"
    assert rep["sft"]["modes"] == {"think": 12, "direct": 3}
    assert rep["sft"]["tokens"]["total"] == sum(r["num_tokens"] for r in default_run["sft"])
    assert rep["pretrain"]["tokens"]["mean"] > 0 and rep["pretrain"]["examples"] == 18
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sft_examples"] == 15 and summary["decontaminated_problems"] == 1
    cfg = OmegaConf.load(out / "config.yaml")
    assert cfg.sft.direct_share == 0.2 and cfg.decontam.ngram == 13
    assert not list(out.glob(".*tmp*"))  # atomic writes leave no temporaries


def test_second_run_does_nothing_and_a_change_rebuilds(default_run, store, smollm2_path):
    run_dir, out = default_run["run_dir"], default_run["out"]
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    summary, _ = curate(run_dir, store, smollm2_path, "plot=true")
    assert summary["up_to_date"] is True and summary["sft_examples"] == 15
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    summary, _ = curate(run_dir, store, smollm2_path, "plot=true", "sft.direct_share=0.0")
    assert summary["up_to_date"] is False and summary["direct"] == 1


def test_new_rollouts_in_the_store_rebuild(tmp_path, smollm2_path):
    store = tmp_path / "rollout"
    build_store(store)
    first, _ = curate(tmp_path, store, smollm2_path)
    extra = rollout("extra", PROMPTS["mid"] + " Explain.", "alpha", 0, reasoning(90) + "\n7")
    ShardWriter(store).append([extra])
    second, out = curate(tmp_path, store, smollm2_path)
    assert second["up_to_date"] is False
    assert second["pretrain_examples"] == first["pretrain_examples"] + 1


# ----------------------------------------------------------------------------- other settings


def test_pass_rate_window(tmp_path, store, smollm2_path):
    _, out = curate(tmp_path, store, smollm2_path, "sft.min_pass_rate=0.3", "sft.max_pass_rate=0.9")
    sft = read_jsonl(out / "sft.jsonl")
    assert {r["problem_id"] for r in sft} == {"mid"}
    rep = json.loads((out / "report.json").read_text())
    # hard 1 correct at 0.25; easy 5, long 2, short 1, many 6, think 2 correct at 1.0
    assert step(rep["sft"], "pass-rate window")["dropped"] == {"too hard": 1, "too easy": 16}


def test_length_window(tmp_path, store, smollm2_path, tok):
    _, out = curate(tmp_path, store, smollm2_path, "sft.min_tokens=20", "sft.max_tokens=300")
    ids = {r["rollout_id"] for r in read_jsonl(out / "sft.jsonl")}
    assert "long:r0:i0" not in ids and "short:r0:i0" not in ids and "long:r0:i1" in ids
    rep = json.loads((out / "report.json").read_text())
    assert step(rep["sft"], "length window")["dropped"] == {"too short": 1, "too long": 1}
    long_completion = reasoning(30, 400) + "\n" + answer_line(18)
    assert len(tok(long_completion, add_special_tokens=False)["input_ids"]) > 300


def test_mixture_weights_and_max_examples(tmp_path, store, smollm2_path):
    _, out = curate(
        tmp_path, store, smollm2_path, "++sft.mixture={alpha: 2, gamma: 1}", "sft.max_examples=3"
    )
    sft = read_jsonl(out / "sft.jsonl")
    assert Counter(r["source"] for r in sft) == {"alpha": 2, "gamma": 1}
    rep = json.loads((out / "report.json").read_text())
    mixture = step(rep["sft"], "mixture")
    # beta after the earlier steps: hard 1, long 2, short 1
    assert mixture["dropped"]["source not in mixture"] == 4
    assert rep["sft"]["mixture"]["limited_by"] == "max_examples"
    again, out2 = curate(
        tmp_path / "again",
        store,
        smollm2_path,
        "++sft.mixture={alpha: 2, gamma: 1}",
        "sft.max_examples=3",
    )
    assert [r["rollout_id"] for r in read_jsonl(out2 / "sft.jsonl")] == [
        r["rollout_id"] for r in sft
    ]

    # Without a cap the smallest weighted source sets the total: alpha has 5, so 5 + 2 (of gamma's 6).
    _, out3 = curate(tmp_path / "nocap", store, smollm2_path, "++sft.mixture={alpha: 2, gamma: 1}")
    sft3 = read_jsonl(out3 / "sft.jsonl")
    assert Counter(r["source"] for r in sft3) == {"alpha": 5, "gamma": 2}
    assert json.loads((out3 / "report.json").read_text())["sft"]["mixture"]["limited_by"] == "alpha"


def test_a_mixture_source_with_no_examples_is_named(tmp_path, store, smollm2_path):
    with pytest.raises(ValueError, match=r"sft.mixture weights source\(s\) \['alpah'\]"):
        curate(tmp_path, store, smollm2_path, "++sft.mixture={alpah: 1, gamma: 1}")


def test_direct_share_goes_to_the_easiest_first(tmp_path, store, smollm2_path):
    # 15 examples: 12 at pass rate 1.0 (one of them the one-line completion), mid 2 at 2/3, hard 1 at 1/4
    _, out = curate(tmp_path, store, smollm2_path, "sft.direct_share=0.9")
    modes = {r["rollout_id"]: r["mode"] for r in read_jsonl(out / "sft.jsonl")}
    assert [rid for rid, m in modes.items() if m == "think"] == ["hard:r0:i0"]


def test_direct_share_bounds_and_switch_off(tmp_path, store, smollm2_path):
    _, out = curate(tmp_path, store, smollm2_path, "sft.direct_share=1.0", "sft.mode_switch=false")
    sft = read_jsonl(out / "sft.jsonl")
    assert all(r["mode"] == "direct" for r in sft)
    users = [m["content"] for r in sft for m in r["messages"] if m["role"] == "user"]
    assert users and not any(u.endswith(("/think", "/no_think")) for u in users)
    assert all(r["switch"] is None for r in sft)


def test_an_eval_set_that_fails_to_load_is_skipped_and_reported(tmp_path, store, smollm2_path):
    missing = tmp_path / "no-such-eval.jsonl"
    summary, out = curate(
        tmp_path,
        store,
        smollm2_path,
        f"decontam.sets=[{{source: builtin}}, {{source: file, path: '{missing}'}}]",
        "decontam.benchmarks=[]",  # GPQA (hub) would be skipped offline too
    )
    rep = json.loads((out / "report.json").read_text())
    (skipped,) = rep["decontamination"]["skipped"]
    assert skipped["set"] == f"file:{missing}" and "no such file" in skipped["reason"]
    assert summary["skipped_eval_sets"] == [f"file:{missing}"]
    assert [r["problem_id"] for r in rep["decontamination"]["removed"]] == ["contam"]
    assert "SKIPPED" in (out / "report.md").read_text()


# ----------------------------------------------------------------------------- units and errors


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        ("step one\nstep two\nThe answer is 4.", ("step one\nstep two", "The answer is 4.")),
        ("<think>\nwork\n</think>\n\nSo 4.", ("work", "So 4.")),
        ("work\n</think>\nSo 4.", ("work", "So 4.")),  # the <think> was in the prompt
        ("<think>\nwork\nso 4\n</think>", ("work\nso 4", "so 4")),
        ("Just 4.", ("", "Just 4.")),
    ],
)
def test_split_completion(completion, expected):
    assert split_completion(completion) == expected


def test_short_prompts_match_whole_and_operators_count():
    index = EvalIndex(13)
    index.add("What is 15 + 10?", ("set", "e1"))
    assert index.match("Quick one. What is 15 + 10? Show your work.")[2] == "what is 15 + 10"
    assert index.match("What is 15 - 10?") is None
    assert index.match("What is 15 + 10 + (3 * 2)?") is not None  # contains it word for word
    index.add("What is 14 - (3 - 15)?", ("set", "e2"))
    assert index.match("What is 14 - 3?") is None  # parentheses are kept, so no false match
    assert index.match("what is 14 -") is not None  # a short training prompt inside an eval one


def test_missing_store_names_the_path_and_the_command(tmp_path, smollm2_path):
    cfg = make_cfg([f"run_dir={tmp_path}", f"tokenizer={smollm2_path}"])
    with pytest.raises(ValueError, match="rd-rollout") as e:
        run(cfg)
    assert str(tmp_path / "rollout") in str(e.value)
    r = subprocess.run(
        [sys.executable, "-m", "distill.curate", f"run_dir={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "rd-curate: error: no rollout store at" in r.stderr


def test_bad_values_are_all_named_at_once(tmp_path):
    cfg = make_cfg(
        [
            f"run_dir={tmp_path}",
            "sft.min_pass_rate=0.8",
            "sft.max_pass_rate=0.2",
            "sft.direct_share=2",
        ]
    )
    with pytest.raises(ValueError) as e:
        run(cfg)
    assert "sft.min_pass_rate" in str(e.value) and "sft.direct_share" in str(e.value)


def test_config_composes_typed_and_rejects_typos():
    from hydra.errors import ConfigCompositionException

    cfg = make_cfg([])
    assert isinstance(cfg, CurateConfig)
    sets = checked_sets(cfg.decontam)
    assert [s.source for s in sets] == ["builtin", "hub", "hub", "hub", "synthetic"]
    assert [s.name for s in sets[1:4]] == [
        "HuggingFaceH4/MATH-500",
        "HuggingFaceH4/aime_2024",
        "Idavidrein/gpqa",
    ]
    # The benchmarks by name read the copies shipped with the package (offline, from any folder).
    assert all(Path(s.path).is_file() for s in sets[1:3]) and sets[3].path is None
    with pytest.raises(
        ValueError, match=r"decontam.benchmarks\[0\]: 'math5000' is not a problem set"
    ):
        run(make_cfg(["decontam.benchmarks=[math5000]"]))
    with pytest.raises(ConfigCompositionException, match="direct_shar"):
        make_cfg(["sft.direct_shar=0.5"])
