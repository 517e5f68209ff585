"""The rollout farm on CPU in seconds: store, problems, prompts, the loop, resume after SIGKILL, shards.

The engine here is the real `hf` engine on a tiny random model (real tokenizer and chat template);
the vLLM engine and server are exercised in test_rollout_engines.py.
"""

import gzip
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from rollout.engines import ModelConfig
from rollout.farm import Farm, RejectionConfig, states_before
from rollout.generate import RolloutConfig, run
from rollout.problems import ProblemsConfig, load_problems, shard_of
from rollout.prompts import EMPTY_THINK, THINK_OPEN, PromptConfig, render
from rollout.store import Kept, ShardWriter, StoreError, export_parquet, iter_store, read_store

# ----------------------------------------------------------------------------- store


def rec(pid, i, rnd=0, correct=None):
    return {
        "problem_id": pid,
        "rollout_id": f"{pid}:r{rnd}:i{i}",
        "round": rnd,
        "index": i,
        "completion": "x",
        "correct": correct,
    }


def test_store_appends_once_per_id_and_survives_a_torn_tail(tmp_path):
    w = ShardWriter(tmp_path)
    assert len(w.append([rec("p1", 0), rec("p1", 1)])) == 2
    assert w.append([rec("p1", 1), rec("p1", 2)]) == [rec("p1", 2)]  # the stored id is skipped
    with w.path.open("a") as f:
        f.write('{"problem_id": "p1", "rollout_id": "p1:r0:i3", "rou')  # a kill mid-write
    w2 = ShardWriter(tmp_path)
    assert w2.torn_bytes > 0
    assert sorted(w2.index) == ["p1:r0:i0", "p1:r0:i1", "p1:r0:i2"]
    w2.append([rec("p1", 3)])
    lines = w2.path.read_text().splitlines()
    assert len(lines) == 4 and all(json.loads(x) for x in lines)


def test_the_writer_keeps_what_resume_needs_not_the_texts(tmp_path):
    """A reopened shard of 2,000 rollouts with 3 KB completions: the writer holds problem, round,
    index and verdict per id (a few hundred bytes), not the records (the file is ~6.5 MB); whole
    records stream from the file."""
    import tracemalloc

    rows = [
        {**rec(f"p{i // 8}", i % 8, correct=[True, False, None][i % 3]), "completion": "w " * 1500}
        for i in range(2000)
    ]
    ShardWriter(tmp_path).append(rows)
    size = ShardWriter(tmp_path).path.stat().st_size
    tracemalloc.start()
    w = ShardWriter(tmp_path)
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert held < 0.1 * size, f"the writer holds {held} bytes for a {size}-byte shard"
    assert w.index["p3:r0:i5"] == Kept("p3", 0, 5, [True, False, None][29 % 3])
    assert w.index["p3:r0:i5"].problem_id is w.index["p3:r0:i0"].problem_id  # one string a problem
    assert list(w.records()) == rows  # whole records: streamed from the file, in order
    before = states_before(w.index, 1)["p0"]
    assert (before.correct, before.wrong, before.unjudged, before.samples) == (3, 3, 2, 8)
    assert w.append(rows[:3]) == [] and w.append([rec("p0", 8)]) == [rec("p0", 8)]
    assert len(w.index) == 2001 and w.index["p0:r0:i8"] == Kept("p0", 0, 8, None)


def test_the_store_streams_each_id_once_first_copy_first(tmp_path):
    """Two shard layouts in one folder (a rerun with another num_shards) hold the same ids: each is
    read once, the first shard file's copy, in file order, and nothing is read before it is asked."""
    ShardWriter(tmp_path, 0, 1).append([{**rec("a", 0), "completion": "first"}, rec("b", 0)])
    ShardWriter(tmp_path, 0, 2).append([{**rec("a", 0), "completion": "second"}, rec("c", 0)])
    stream = iter_store(tmp_path)
    assert next(stream)["completion"] == "first"
    assert [r["rollout_id"] for r in stream] == ["b:r0:i0", "c:r0:i0"]
    assert read_store(tmp_path) == list(iter_store(tmp_path))


def test_compressed_store_drops_a_torn_member(tmp_path):
    w = ShardWriter(tmp_path, compress=True)
    w.append([rec("p", 0)])
    w.append([rec("p", 1)])
    whole = w.path.read_bytes()
    w.path.write_bytes(
        whole + gzip.compress(b'{"rollout_id": "p:r0:i2"}\n')[:15]
    )  # torn third member
    w2 = ShardWriter(tmp_path, compress=True)
    assert sorted(w2.index) == ["p:r0:i0", "p:r0:i1"] and w2.torn_bytes == 15


def test_damage_before_the_last_line_names_file_and_line(tmp_path):
    w = ShardWriter(tmp_path)
    w.append([rec("p", 0), rec("p", 1)])
    text = w.path.read_text().splitlines()
    w.path.write_text(text[0] + "\n{broken\n" + text[1] + "\n")
    with pytest.raises(StoreError, match=r"shard-00000-of-00001.jsonl:2: not valid JSON"):
        ShardWriter(tmp_path)


def test_store_reads_with_datasets_and_exports_parquet(tmp_path):
    from datasets import load_dataset

    ShardWriter(tmp_path, 0, 2).append([{**rec("a", 0), "meta": {"d": 1}}])
    ShardWriter(tmp_path, 1, 2).append([{**rec("b", 0), "meta": {"d": 2}}])
    assert len(read_store(tmp_path)) == 2
    ds = load_dataset("json", data_files=str(tmp_path / "shard-*.jsonl"), split="train")
    assert sorted(ds["rollout_id"]) == ["a:r0:i0", "b:r0:i0"]
    out = export_parquet(tmp_path, tmp_path / "all.parquet")
    assert len(load_dataset("parquet", data_files=str(out), split="train")) == 2


# ----------------------------------------------------------------------------- problems


def test_file_source_maps_columns_and_keeps_ids(tmp_path):
    path = tmp_path / "math500.jsonl"
    rows = [
        {
            "problem": "What is 1+1?",
            "answer": "2",
            "subject": "Prealgebra",
            "level": 1,
            "unique_id": "test/1.json",
        },
        {
            "problem": "What is 2+2?",
            "answer": "4",
            "subject": "Prealgebra",
            "level": 1,
            "unique_id": "test/2.json",
        },
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = ProblemsConfig(
        source="file",
        path=str(path),
        columns={"prompt": "problem", "answer": "answer", "subject": "subject"},
        id_column="unique_id",
    )
    ps = load_problems(cfg)
    assert [p["problem_id"] for p in ps] == ["test/1.json", "test/2.json"]
    assert (
        ps[0]["prompt"] == "What is 1+1?"
        and ps[0]["answer"] == "2"
        and ps[0]["meta"]["subject"] == "Prealgebra"
    )
    with pytest.raises(ValueError, match=r"problems.columns.prompt=<column>"):
        load_problems(ProblemsConfig(source="file", path=str(path)))


def test_hub_source_path_gpqa_choices_shuffled_with_a_fixed_seed(tmp_path):
    """The hub code path on a local dataset folder laid out like GPQA (the real one is gated)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "gpqa"
    folder.mkdir()
    rows = [
        {
            "Record ID": f"rec{i}",
            "Question": f"Question {i}?",
            "Correct Answer": f"right {i}",
            "Incorrect Answer 1": "w1",
            "Incorrect Answer 2": "w2",
            "Incorrect Answer 3": "w3",
        }
        for i in range(6)
    ]
    pq.write_table(pa.Table.from_pylist(rows), folder / "train.parquet")
    cfg = ProblemsConfig(
        source="hub",
        name=str(folder),
        split="train",
        columns={"prompt": "Question"},
        id_column="Record ID",
        choice_columns=[
            "Correct Answer",
            "Incorrect Answer 1",
            "Incorrect Answer 2",
            "Incorrect Answer 3",
        ],
        kind="choice",
    )
    a, b = load_problems(cfg), load_problems(cfg)
    assert a == b  # the letters never move between runs
    for p in a:
        letter = p["answer"]
        assert p["kind"] == "choice" and f"{letter}) right" in p["prompt"]
    assert len({p["answer"] for p in a}) > 1  # the correct option is not always A
    other = load_problems(ProblemsConfig(**{**cfg.__dict__, "choice_seed": 1}))
    assert [p["answer"] for p in other] != [p["answer"] for p in a]


def test_numina_style_gold_from_the_solution(tmp_path):
    path = tmp_path / "numina.jsonl"
    path.write_text(
        json.dumps({"problem": "Compute 3*4.", "solution": "3*4 = 12, so \\boxed{12}."}) + "\n"
    )
    (p,) = load_problems(
        ProblemsConfig(
            source="file",
            path=str(path),
            columns={"prompt": "problem", "answer": "solution"},
            answer_from_solution=True,
        )
    )
    assert p["answer"] == "12"


def test_synthetic_and_builtin_sources_limit_shuffle_and_shards():
    ps = load_problems(
        ProblemsConfig(source="synthetic", generators=None, difficulty=[1, 2], count=40, seed=3)
    )
    assert len(ps) == 40 and len({p["meta"]["generator"] for p in ps}) == 6
    assert (
        load_problems(
            ProblemsConfig(
                source="synthetic",
                count=40,
                seed=3,
                difficulty=[1, 2],
                limit=5,
                shuffle=True,
                generators=None,
            )
        )
        != ps[:5]
    )
    hand = load_problems(ProblemsConfig(source="builtin"))
    assert len(hand) >= 25 and {"math", "choice"} <= {p["kind"] for p in hand}
    shards = [[p for p in ps if shard_of(p["problem_id"], 3) == s] for s in range(3)]
    assert sum(len(s) for s in shards) == 40 and all(shards)


# ----------------------------------------------------------------------------- prompts


def test_prompt_uses_the_models_chat_template_and_the_hybrid_switch(tiny_model):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    p = {"prompt": "What is 2 + 2?", "kind": "math"}
    text = render(tok, p, PromptConfig())
    assert text.startswith("<|im_start|>system") and text.endswith("<|im_start|>assistant\n")
    assert "\\boxed{13}" in text and "What is 2 + 2?" in text and "\\boxed{}" in text
    assert render(tok, p, PromptConfig(thinking="on")).endswith("assistant\n" + THINK_OPEN)
    assert render(tok, p, PromptConfig(thinking="off")).endswith("assistant\n" + EMPTY_THINK)
    assert "6 + 7" not in render(tok, p, PromptConfig(example=False))
    c = render(
        tok, {"prompt": "Pick one.\nA) x\nB) y", "kind": "choice"}, PromptConfig(system="Be brief.")
    )
    assert "Be brief." in c and "Answer: X" in c


# ----------------------------------------------------------------------------- the loop


def cfg_for(tiny_model, run_dir, **over):
    cfg = RolloutConfig(
        run_dir=str(run_dir), model=ModelConfig(name="tiny", path=tiny_model), plot=False
    )
    cfg.engine.name = "hf"
    cfg.problems = ProblemsConfig(source="synthetic", generators=["arithmetic"], count=6, seed=0)
    cfg.sampling.n, cfg.sampling.max_tokens, cfg.chunk_size = 2, 8, 4
    cfg.rejection = RejectionConfig(
        k_correct=1, max_rounds=3, max_samples=16, round_overrides=[{"temperature": 1.2}]
    )
    for k, v in over.items():
        obj = cfg
        *path, last = k.split(".")
        for part in path:
            obj = getattr(obj, part)
        setattr(obj, last, v)
    return cfg


def test_rejection_loop_keeps_everything_and_stops_at_the_budget(tiny_model, tmp_path):
    summary = run(cfg_for(tiny_model, tmp_path))
    rows = read_store(tmp_path / "rollout")
    # A random model solves nothing: every problem is resampled until max_rounds, every rollout kept.
    assert len(rows) == 6 * 2 * 3
    assert Counter(r["round"] for r in rows) == {0: 12, 1: 12, 2: 12}
    assert all(r["correct"] is False and r["verdict"]["verifier"] == "math" for r in rows)
    assert {r["sampling"]["temperature"] for r in rows if r["round"] > 0} == {1.2}
    assert {r["sampling"]["temperature"] for r in rows if r["round"] == 0} == {0.7}
    for r in rows:
        assert (
            r["rollout_id"] == f"{r['problem_id']}:r{r['round']}:i{r['index']}"
            and r["model"] == "tiny"
        )
        assert r["finish_reason"] in ("stop", "length") and r["num_tokens"] > 0
    assert summary["problem_counts"] == {"done": 0, "out_of_budget": 6, "pending": 0}
    manifest = json.loads((tmp_path / "rollout" / "manifest-00000-of-00001.json").read_text())
    assert [s["round"] for s in manifest["history"][0]["settings"]] == [0, 1, 2]
    assert (tmp_path / "rollout" / "summary.json").exists()


def test_a_finished_run_does_nothing_and_new_settings_touch_only_unfinished_problems(
    tiny_model, tmp_path
):
    run(cfg_for(tiny_model, tmp_path, **{"rejection.max_rounds": 1}))
    path = tmp_path / "rollout" / "shard-00000-of-00001.jsonl"
    before = path.read_bytes()
    t0 = time.perf_counter()
    run(cfg_for(tiny_model, tmp_path, **{"rejection.max_rounds": 1}))
    assert path.read_bytes() == before and time.perf_counter() - t0 < 5
    # A bigger budget and another temperature: new rounds only, the old ones untouched.
    run(cfg_for(tiny_model, tmp_path, **{"rejection.max_rounds": 2, "sampling.temperature": 0.9}))
    rows = read_store(tmp_path / "rollout")
    assert path.read_bytes().startswith(before)
    assert {r["sampling"]["temperature"] for r in rows if r["round"] == 0} == {0.7}
    assert {r["sampling"]["temperature"] for r in rows if r["round"] == 1} == {1.2}
    manifest = json.loads((tmp_path / "rollout" / "manifest-00000-of-00001.json").read_text())
    assert len(manifest["history"]) == 2 and manifest["history"][1]["settings"][0]["round"] == 1


def test_unsolved_problems_can_be_resampled_by_another_teacher(tiny_model, tmp_path):
    import shutil

    other = tmp_path / "tiny-2"
    shutil.copytree(tiny_model, other)
    cfg = cfg_for(tiny_model, tmp_path / "run", **{"rejection.max_rounds": 2})
    cfg.rejection.round_overrides = [{"temperature": 1.0, "teacher": str(other)}]
    run(cfg)
    rows = read_store(tmp_path / "run" / "rollout")
    assert {r["model"] for r in rows if r["round"] == 0} == {"tiny"}
    assert {r["model"] for r in rows if r["round"] == 1} == {"tiny-2"}
    manifest = json.loads(
        (tmp_path / "run" / "rollout" / "manifest-00000-of-00001.json").read_text()
    )
    assert [s["model"] for s in manifest["history"][0]["settings"]] == ["tiny", "tiny-2"]


def test_shards_are_disjoint_and_read_together(tiny_model, tmp_path):
    for s in range(2):
        run(cfg_for(tiny_model, tmp_path, shard=s, num_shards=2, **{"rejection.max_rounds": 1}))
    files = sorted((tmp_path / "rollout").glob("shard-*.jsonl"))
    assert len(files) == 2
    ids = [{json.loads(x)["problem_id"] for x in f.read_text().splitlines()} for f in files]
    assert not ids[0] & ids[1] and len(ids[0] | ids[1]) == 6
    out = subprocess.run(
        [sys.executable, "-m", "rollout.store", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0 and "2 shard file(s)" in out.stdout and "12 rollouts" in out.stdout


def test_config_errors_are_collected_and_name_the_key(tiny_model, tmp_path):
    cfg = cfg_for(
        tiny_model, tmp_path, shard=3, num_shards=2, **{"sampling.n": 0, "prompt.thinking": "maybe"}
    )
    with pytest.raises(ValueError) as e:
        run(cfg)
    msg = str(e.value)
    assert (
        "sampling.n must be >= 1, got 0" in msg
        and "shard must be in [0, num_shards=2)" in msg
        and "prompt.thinking" in msg
    )


def test_farm_overlaps_verification_with_generation(tiny_model, tmp_path):
    """The verifier runs on another thread while the engine generates the next chunk."""
    import threading

    from rollout.engines import HFEngine

    engine = HFEngine(tiny_model)
    threads = set()
    from verifiers import verify_batch

    def spy(items):
        threads.add(threading.current_thread().name)
        return verify_batch(items)

    farm = Farm(
        engine,
        ShardWriter(tmp_path),
        "tiny",
        PromptConfig(),
        {"max_tokens": 4, "temperature": 0.7},
        1,
        RejectionConfig(max_rounds=1, max_samples=4),
        chunk_size=2,
        verify_fn=spy,
    )
    farm.run(load_problems(ProblemsConfig(count=6)))
    assert threads and all(t.startswith("rd-verify") for t in threads)
    assert len(farm.writer.index) == 6


# ----------------------------------------------------------------------------- kill and resume


def rd_rollout(run_dir, tiny_model, *extra):
    return [
        sys.executable,
        "-m",
        "rollout.generate",
        f"run_dir={run_dir}",
        "engine=hf",
        f"model.path={tiny_model}",
        "model.name=tiny",
        "problems.count=24",
        "sampling.n=2",
        "sampling.max_tokens=24",
        "chunk_size=4",
        "rejection.max_rounds=3",
        "plot=false",
        "seed=7",
        *extra,
    ]


def test_sigkill_at_random_moments_then_resume_matches_an_uninterrupted_run(tiny_model, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    ref_dir, run_dir = tmp_path / "ref", tmp_path / "killed"
    subprocess.run(
        rd_rollout(ref_dir, tiny_model), check=True, capture_output=True, env=env, timeout=600
    )
    shard = run_dir / "rollout" / "shard-00000-of-00001.jsonl"
    rng = random.Random(0)
    kills = 0
    for target in sorted(rng.sample(range(8, 130), 3)):
        proc = subprocess.Popen(
            rd_rollout(run_dir, tiny_model),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        deadline = time.time() + 300
        while proc.poll() is None and time.time() < deadline:
            lines = shard.read_bytes().count(b"\n") if shard.exists() else 0
            if lines >= target:
                os.killpg(proc.pid, signal.SIGKILL)
                kills += 1
                break
            time.sleep(0.01)
        proc.wait()
    assert kills >= 2, "the runs finished before they could be killed"
    subprocess.run(
        rd_rollout(run_dir, tiny_model), check=True, capture_output=True, env=env, timeout=600
    )

    def load(d):
        lines = (d / "rollout" / "shard-00000-of-00001.jsonl").read_text().splitlines()
        return [json.loads(x) for x in lines]

    ref, got = load(ref_dir), load(run_dir)
    ids = [r["rollout_id"] for r in got]
    assert len(ids) == len(set(ids)), "a rollout was written twice"
    assert sorted(ids) == sorted(r["rollout_id"] for r in ref), "a rollout was lost"
    by_id = {r["rollout_id"]: r for r in ref}
    for r in got:
        assert r["completion"] == by_id[r["rollout_id"]]["completion"], r["rollout_id"]
        assert r["correct"] == by_id[r["rollout_id"]]["correct"]
    manifest = json.loads((run_dir / "rollout" / "manifest-00000-of-00001.json").read_text())
    assert manifest["problem_counts"]["pending"] == 0


# ----------------------------------------------------------------------------- openai engine under faults


def test_openai_engine_survives_429_500_slow_and_dropped_connections(tiny_model, tmp_path):
    from fault_server import FaultInjectingServer

    with FaultInjectingServer(slow_seconds=2.5, seed=1) as server:
        cfg = cfg_for(tiny_model, tmp_path, **{"rejection.max_rounds": 2, "problems.count": 12})
        cfg.engine.name = "openai"
        cfg.engine.kwargs = {
            "urls": [server.url, server.url],
            "concurrency": 6,
            "max_retries": 2,
            "timeout": 1.5,
            "attempts": 8,
        }
        run(cfg)
        faults = dict(server.faults)
    rows = read_store(tmp_path / "rollout")
    ids = [r["rollout_id"] for r in rows]
    assert len(ids) == len(set(ids))
    per_round = Counter((r["problem_id"], r["round"]) for r in rows)
    assert set(per_round.values()) == {
        2
    }  # n rollouts for every (problem, round): none lost, none doubled
    assert {p for p, _ in per_round} == {f"syn-arithmetic-d1-s0-{i:06d}" for i in range(12)}
    assert all(v > 0 for v in faults.values()), faults
    assert all(r["verdict"]["verifier"] == "math" and r["correct"] in (True, False) for r in rows)


def test_unknown_engine_and_bad_options_are_named(tiny_model, tmp_path):
    cfg = cfg_for(tiny_model, tmp_path)
    cfg.engine.name = "tgi"
    with pytest.raises(ValueError, match=r"engine.name='tgi' is not an engine"):
        run(cfg)
    cfg.engine.name, cfg.engine.kwargs = "hf", {"flash": True}
    with pytest.raises(ValueError, match=r"engine 'hf' rejected its options \['flash'\]"):
        run(cfg)


sys.path.insert(0, str(Path(__file__).parent))
