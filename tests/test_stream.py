"""The streaming, sharded rd-curate (stream.enabled=true, selection/stream.py): the same outputs byte
for byte as the in-memory path, whatever the number of problem shards, spill buckets and local
workers; a SIGKILL in the middle of a sharded run resumes without losing or repeating an example.

The store is tests/test_curate.py's (one problem per selection rule) plus what only shows across
problems and shard files: two problems with the same prompt and completion (an exact duplicate across
problems), near duplicates across problems, several sources and rounds, a rollout id stored twice.
"""

import gzip
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_curate import answer_line, build_store, make_cfg, reasoning, rollout

from distill.curate import run
from rollout.store import ShardWriter

ROOT = Path(__file__).resolve().parents[1]
OUTPUTS = ("pretrain.jsonl", "sft.jsonl", "report.json", "report.md")
FAST_DECONTAM = ["problems@decontam.heldout=heldout_arith", "decontam.sets=[{source: builtin}]"]


def build_big_store(directory: Path) -> None:
    """test_curate's store in shard 0 of 2, the cross-problem cases in shard 1."""
    build_store(directory / "tmp0")
    (directory / "tmp0" / "shard-00000-of-00001.jsonl").rename(
        directory / "shard-00000-of-00002.jsonl"
    )
    (directory / "tmp0").rmdir()
    twin = "Two trains leave one station ninety minutes apart on parallel tracks. How far apart?"
    shared = reasoning(70) + "\n" + answer_line(7)
    recs = []
    for pid, src in (("twin-a", "alpha"), ("twin-b", "delta")):  # same prompt, same completion
        recs.append(rollout(pid, twin, src, 0, shared))
        recs.append(rollout(pid, twin, src, 1, reasoning(71 if pid == "twin-a" else 72) + "\n7"))
    for k in range(12):  # many problems, two rounds, a near duplicate of the previous problem
        pid = f"p{k:02d}"
        prompt = f"Problem {k}: a farmer counts {k + 3} cows and {k + 5} sheep in one field. Total?"
        src = ("alpha", "beta", "gamma", "delta")[k % 4]
        for i in range(4):
            body = reasoning(100 + k * 10 + i) + "\n" + answer_line(2 * k + 8)
            if i == 0:  # long enough that another prompt in front still overlaps >= 0.9
                body = reasoning(100 + k * 10, 400) + "\n" + answer_line(2 * k + 8)
            if i == 3 and k:  # the previous problem's first completion, one word added
                body = reasoning(100 + (k - 1) * 10, 400) + "\n" + answer_line(2 * k + 6) + " ok"
            r = rollout(pid, prompt, src, i, body, correct=(i + k) % 5 != 0)
            r["round"], r["rollout_id"] = i // 2, f"{pid}:r{i // 2}:i{i}"
            recs.append(r)
    recs.append(dict(recs[-1]))  # a rollout id written twice: read once
    ShardWriter(directory, shard=1, num_shards=2).append(recs[:-1])
    with (directory / "shard-00001-of-00002.jsonl").open("a") as f:
        f.write(json.dumps(recs[-1]) + "\n")


@pytest.fixture(scope="module")
def big_store(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("stream") / "rollout"
    d.mkdir()
    build_big_store(d)
    return d


def curate(run_dir: Path, store: Path, tok: str, *overrides: str) -> dict:
    cfg = make_cfg([f"run_dir={run_dir}", f"input_dir={store}", f"tokenizer={tok}", *overrides])
    return run(cfg)


def outputs(run_dir: Path) -> dict[str, bytes]:
    return {name: (run_dir / "curate" / name).read_bytes() for name in OUTPUTS}


SETTINGS = {
    "defaults": [],
    "selective": [
        *FAST_DECONTAM,
        "sft.near_dup_threshold=0.5",
        "sft.per_problem_cap=2",
        "pretrain.per_problem_cap=3",
        "sft.direct_share=0.4",
        "++sft.mixture={alpha: 2, beta: 1, gamma: 1}",
        "sft.max_examples=9",
        "sft.min_tokens=5",
        "sft.max_tokens=200",
        "sft.min_pass_rate=0.2",
        "seed=3",
    ],
}


@pytest.fixture(scope="module")
def in_memory(big_store, smollm2_path, tmp_path_factory):
    """The in-memory path's outputs for each setting: what every streaming run must reproduce."""
    out = {}
    for name, overrides in SETTINGS.items():
        d = tmp_path_factory.mktemp(f"mem-{name}")
        curate(d, big_store, smollm2_path, "plot=false", *overrides)
        out[name] = outputs(d)
    return out


@pytest.mark.parametrize("setting", list(SETTINGS))
@pytest.mark.parametrize(
    "layout",
    [
        ["stream.tasks=1"],  # one task, one bucket
        ["stream.tasks=3", "stream.memory_mb=0.002"],  # three shards, several buckets each
    ],
)
def test_streaming_outputs_are_the_in_memory_ones_byte_for_byte(
    setting, layout, big_store, in_memory, smollm2_path, tmp_path
):
    summary = curate(
        tmp_path,
        big_store,
        smollm2_path,
        "plot=false",
        "stream.enabled=true",
        *layout,
        *SETTINGS[setting],
    )
    assert summary["status"] == "done" and not summary["up_to_date"]
    got = outputs(tmp_path)
    for name in OUTPUTS:
        assert got[name] == in_memory[setting][name], name
    sft = [json.loads(line) for line in got["sft.jsonl"].splitlines()]
    assert len({r["rollout_id"] for r in sft}) == len(sft) > 0
    if "stream.tasks=3" in layout:  # really sharded and spilled
        work = next((tmp_path / "curate" / "stream").glob("tasks-3-buckets-*"))
        assert int(work.name.rsplit("-", 1)[1]) > 1
        assert len(list((work / "logs" / "select" / "logs").glob("task_*.log"))) == 3


def test_the_cross_problem_cases_are_in_the_store(in_memory):
    """The store exercises what per-problem work alone would get wrong."""
    report = json.loads(in_memory["defaults"]["report.json"])
    steps = {s["step"]: s for s in report["sft"]["steps"]}
    assert steps["exact dedup"]["dropped"]["exact duplicate"] >= 2  # twin-b's copy, easy's copy
    assert steps["near dedup"]["dropped"]["near duplicate"] >= 5  # pNN's copy of p(N-1)
    sft_ids = {json.loads(x)["rollout_id"] for x in in_memory["defaults"]["sft.jsonl"].splitlines()}
    assert "twin-a:r0:i0" in sft_ids and "twin-b:r0:i0" not in sft_ids
    assert report["input"]["rollouts"] == 26 + 4 + 48  # the id stored twice counts once


@pytest.mark.slow  # a subprocess run (worker processes / kill and rerun)
def test_several_local_workers_give_the_same_outputs(big_store, in_memory, smollm2_path, tmp_path):
    """Tasks in datatrove's worker processes (the step is pickled, the config travels as YAML)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run(
        [
            sys.executable, "-m", "distill.curate", f"run_dir={tmp_path}", f"input_dir={big_store}",
            f"tokenizer={smollm2_path}", "plot=false", "stream.enabled=true", "stream.tasks=2",
            "stream.workers=2", *SETTINGS["selective"],
        ],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    assert outputs(tmp_path) == in_memory["selective"]


@pytest.mark.slow  # a subprocess run (worker processes / kill and rerun)
def test_a_sharded_curation_killed_midway_resumes_without_loss_or_repeats(
    big_store, in_memory, smollm2_path, tmp_path
):
    """SIGKILL once the second of four select tasks is done; the rerun skips the finished tasks
    (their files are not rewritten) and the outputs are the uninterrupted run's."""
    from kill import kill_once

    argv = [
        sys.executable, "-m", "distill.curate", f"run_dir={tmp_path}", f"input_dir={big_store}",
        f"tokenizer={smollm2_path}", "plot=false", "stream.enabled=true", "stream.tasks=4",
        "stream.memory_mb=0.002", *SETTINGS["selective"],
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = tmp_path / "curate"
    proc = subprocess.Popen(
        argv, cwd=tmp_path, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    work = out / "stream"
    marker = None
    while marker is None and proc.poll() is None:
        found = list(work.glob("tasks-4-buckets-*/logs/select/completions/00001"))
        marker = found[0] if found else None
    if marker is None:
        pytest.skip("the run ended before it could be killed")
    kill_once(proc, marker)
    assert json.loads((out / "summary.json").read_text())["status"] == "running"
    assert not (out / "sft.jsonl").exists()
    task_logs = marker.parents[1] / "logs"  # datatrove's per-task logs, kept after the run
    done = {p: p.stat().st_mtime_ns for p in task_logs.glob("task_0000[01].log")}
    assert len(done) == 2

    r = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert {p: p.stat().st_mtime_ns for p in done} == done  # finished tasks were not redone
    assert "Skipping 2 already completed tasks" in r.stderr  # datatrove, on the select step
    assert json.loads((out / "summary.json").read_text())["status"] == "done"
    assert outputs(tmp_path) == in_memory["selective"]


def test_stream_settings_are_checked(big_store, smollm2_path, tmp_path):
    with pytest.raises(ValueError) as e:
        curate(tmp_path, big_store, smollm2_path, "stream.tasks=0", "stream.executor=ray")
    assert "stream.tasks must be >= 1" in str(e.value)
    assert "stream.executor must be one of" in str(e.value)


def test_streaming_does_not_change_the_fingerprint(big_store, smollm2_path, tmp_path):
    """stream.* says how, not what: a finished in-memory run is up to date for the streaming path."""
    curate(tmp_path, big_store, smollm2_path, "plot=false", *FAST_DECONTAM)
    again = curate(tmp_path, big_store, smollm2_path, "plot=false", "stream.enabled=true",
                   "stream.tasks=2", *FAST_DECONTAM)  # fmt: skip
    assert again["up_to_date"]


def test_a_finished_streaming_run_whose_outputs_are_incomplete_makes_them_again(
    big_store, smollm2_path, tmp_path
):
    """plot is outside the fingerprint but lengths.png is an output: turning it on after a
    streaming run must make it, not find every datatrove task done and make nothing."""
    first = ["stream.enabled=true", "stream.tasks=2", *FAST_DECONTAM]
    curate(tmp_path, big_store, smollm2_path, "plot=false", *first)
    assert not (tmp_path / "curate" / "lengths.png").exists()
    again = curate(tmp_path, big_store, smollm2_path, "plot=true", *first)
    assert again["status"] == "done" and (tmp_path / "curate" / "lengths.png").is_file()


def test_the_readme_slurm_keys_compose():
    """The README's cluster keys are typed config fields (not a null that Hydra cannot extend)."""
    from hydra import compose, initialize_config_module

    import dpo.pairs  # noqa: F401  (registers pairs_schema)

    for name in ("curate", "pairs"):
        with initialize_config_module(config_module="conf", version_base="1.3"):
            cfg = compose(
                config_name=name,
                overrides=["stream.executor=slurm", "stream.slurm.partition=gpu"],
            )
        assert cfg.stream.slurm.partition == "gpu" and cfg.stream.slurm.cpus_per_task == 4


def run_readme_line(start: str, cwd: Path) -> subprocess.CompletedProcess:
    """The README's rd-curate line that starts so, exactly as printed (rd-curate as this
    interpreter's python -m distill.curate), in cwd over a store in runs/demo/rollout."""
    readme = (ROOT / "README.md").read_text()
    (line,) = [ln.strip() for ln in readme.splitlines() if ln.strip().startswith(start)]
    argv = shlex.split(line, comments=True)
    assert argv[0] == "rd-curate"
    build_store(cwd / "runs" / "demo" / "rollout")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "distill.curate", *argv[1:]],
        cwd=cwd, env=env, capture_output=True, text=True,
    )  # fmt: skip


README_LINE = "rd-curate run_dir=runs/demo stream.enabled=true stream.tasks=4 stream.workers=2"


@pytest.mark.slow  # a subprocess run (worker processes / kill and rerun)
def test_the_readme_sharded_command_runs_as_printed(smollm2_path, tmp_path):
    """README's rd-curate-at-scale line, exactly as printed (rd-curate as this interpreter's
    python -m distill.curate), over a store in runs/demo/rollout."""
    r = run_readme_line(README_LINE, tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads((tmp_path / "runs/demo/curate/summary.json").read_text())
    assert summary["status"] == "done" and summary["sft_examples"] > 0
    assert (
        len(
            list(
                (tmp_path / "runs/demo/curate/stream").glob("tasks-4-*/logs/write/logs/task_*.log")
            )
        )
        == 4
    )


def test_a_finish_cut_short_after_its_cleanup_starts_over_with_the_same_outputs(
    big_store, in_memory, smollm2_path, tmp_path
):
    """The step files go once the outputs are in place, and with them the earlier steps' marks:
    a finish killed between its cleanup and its own mark (simulated: its mark and an output
    removed) must rerun everything, not find steps done whose files are gone."""
    args = ["plot=false", "stream.enabled=true", "stream.tasks=2", *SETTINGS["selective"]]
    curate(tmp_path, big_store, smollm2_path, *args)
    (work,) = (tmp_path / "curate" / "stream").glob("tasks-2-*")
    assert sorted(p.name for p in work.iterdir()) == ["logs", "plan.json"]
    assert [p.parent.name for p in work.glob("logs/*/completions")] == ["finish"]
    shutil.rmtree(work / "logs" / "finish" / "completions")
    (tmp_path / "curate" / "sft.jsonl").unlink()
    again = curate(tmp_path, big_store, smollm2_path, *args)
    assert again["status"] == "done" and outputs(tmp_path) == in_memory["selective"]


def test_a_sharded_corpus_is_the_one_file_split_in_order(
    big_store, in_memory, smollm2_path, tmp_path
):
    """pretrain.shards=3, in memory and streaming: the same files byte for byte, which read in name
    order (as rd-pretrain, the packer and datasets read them) are the one-file pretrain.jsonl."""
    from datasets import load_dataset

    made = {}
    for path, extra in (("memory", []), ("stream", ["stream.enabled=true", "stream.tasks=2"])):
        run_dir = tmp_path / path
        curate(run_dir, big_store, smollm2_path, "plot=false", "pretrain.shards=3", *extra,
               *SETTINGS["selective"])  # fmt: skip
        files = sorted((run_dir / "curate").glob("pretrain-*-of-00003.jsonl"))
        assert [p.name for p in files] == [f"pretrain-{k:05d}-of-00003.jsonl" for k in range(3)]
        assert not (run_dir / "curate" / "pretrain.jsonl").exists()
        made[path] = {p.name: p.read_bytes() for p in files}
    assert made["stream"] == made["memory"]
    one = in_memory["selective"]["pretrain.jsonl"]
    assert b"".join(made["memory"].values()) == one
    assert all(made["memory"].values())  # rows spread over every file
    pattern = str(tmp_path / "memory" / "curate" / "pretrain-*-of-*.jsonl")
    ds = load_dataset("json", data_files=pattern, split="train", cache_dir=str(tmp_path / "hf"))
    assert ds["rollout_id"] == [json.loads(x)["rollout_id"] for x in one.splitlines()]


def test_a_work_folder_of_an_older_layout_is_started_over(tmp_path):
    from selection.stream import LAYOUT, fresh_work, write_json

    work = tmp_path / "tasks-1-buckets-1"
    write_json(work / "plan.json", {"buckets": 1})  # no layout: the code before LAYOUT 2
    (work / "select").mkdir()
    assert not fresh_work(work).exists()
    write_json(work / "plan.json", {"layout": LAYOUT, "buckets": 1})
    assert (fresh_work(work) / "plan.json").exists()


def test_select_tasks_that_checked_different_eval_sets_are_refused(tmp_path):
    from selection.stream import same_eval_sets

    one = {"loaded": [{"set": "math500", "problems": 500}], "skipped": []}
    other = {"loaded": [], "skipped": [{"set": "math500", "reason": "offline"}]}
    same_eval_sets([one, dict(one)], tmp_path)
    with pytest.raises(ValueError, match="different eval sets"):
        same_eval_sets([one, other], tmp_path)


def test_a_gzip_store_is_sized_by_its_json_not_its_file(tmp_path):
    """Whether to stream, and how many buckets, follow what the store takes loaded."""
    from selection.stream import StreamConfig, store_bytes, streams

    store = tmp_path / "rollout"
    recs = [rollout(f"p{k}", f"Problem {k}", "alpha", 0, reasoning(k, 300)) for k in range(300)]
    ShardWriter(store, compress=True).append(recs)
    (shard,) = store.glob("shard-*.jsonl.gz")
    raw = len(gzip.decompress(shard.read_bytes()))
    assert shard.stat().st_size < raw / 3
    assert abs(store_bytes([shard]) - raw) < 0.05 * raw
    s = StreamConfig(memory_mb=raw * 4 / 2**20 * 0.9)  # loaded, it would just pass memory_mb
    assert streams(s, [shard]) and not streams(
        StreamConfig(memory_mb=raw * 4 / 2**20 * 1.1), [shard]
    )


def test_near_duplicate_pairs_are_written_once_however_many_bands_they_share(tmp_path):
    """A cluster of k equal signatures shares every band: k(k-1)/2 pairs, not bands times that."""
    import numpy as np

    from selection.dedup import band_keys, edges, lsh_ranges, signature_hex

    ranges = lsh_ranges(0.5, 64)
    assert len(ranges) > 2
    sig = signature_hex(np.arange(64) * 7919 % 2**32)
    rows = [
        [key, [f"p{k}", 0, k, f"p{k}:r0:i{k}"], f"p{k}:r0:i{k}", sig]
        for k in range(6)
        for key in band_keys(sig, ranges)
    ]
    (tmp_path / "p0.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    found = edges([tmp_path / "p0.jsonl"], 0.5, ranges)
    assert len(found) == 6 * 5 // 2
    assert {(e[1], e[3]) for e in found} == {
        (f"p{j}:r0:i{j}", f"p{i}:r0:i{i}") for j in range(6) for i in range(j)
    }


README_SLURM_LINE = (
    "rd-curate run_dir=runs/demo stream.enabled=true stream.tasks=64 stream.executor=slurm"
)


@pytest.mark.skipif(shutil.which("sbatch") is not None, reason="sbatch here would submit real jobs")
def test_the_readme_cluster_command_runs_as_printed(tmp_path):
    """README's SLURM line, exactly as printed; with no sbatch here it must stop with the fix
    before writing anything (on a login node it submits)."""
    r = run_readme_line(README_SLURM_LINE, tmp_path)
    assert r.returncode == 2, r.stderr[-3000:]
    assert "sbatch, which is not on PATH" in r.stderr
    assert not (tmp_path / "runs" / "demo" / "curate").exists()


# ----------------------------------------------------------------------------- rd-pairs


def build_pairs_store(tmp_path: Path) -> Path:
    """test_pairs' store (one problem per rule) plus many problems with both outcomes (so
    max_pairs cuts in problem order) and one exact duplicate across two problems."""
    from test_pairs import ro, store

    d = store(tmp_path)
    recs = []
    for k in range(10):
        pid, prompt = f"q{k}", f"Problem q{k}: what is {k} plus {k + 7} and then minus {k}?"
        for i in range(5):
            text = (
                f"Step by step for q{k}, try {i}: {k} plus {k + 7}.\nThe answer is \\boxed{{{i}}}."
            )
            recs.append(ro(pid, i, (i + k) % 3 != 0, text, difficulty=k % 3, prompt=prompt))
    twin = "Problem twin: what is eight plus one?"
    for pid in ("twin-a", "twin-b"):  # the same prompt and rollouts under two problem ids
        recs += [ro(pid, 0, True, "Eight plus one.\n\\boxed{9}", prompt=twin)]
        recs += [ro(pid, 1, False, "Eight minus one.\n\\boxed{7}", prompt=twin)]
    ShardWriter(d, 1, 2).append(recs)
    return d


PAIRS_SETTINGS = {
    "defaults": ["max_length=512"],
    "hardest": [
        *FAST_DECONTAM,
        "max_length=300",
        "strategy=hardest_first",
        "max_pairs=7",
        "pairs_per_problem=2",
        "truncated_rejected=false",
        "min_pass_rate=0.2",
    ],
    "length_matched": [*FAST_DECONTAM, "strategy=length_matched", "seed=5", "max_pairs=11"],
}
PAIRS_OUTPUTS = ("pairs.jsonl", "report.json", "report.md")


def make_pairs(run_dir: Path, store: Path, tok: str, *overrides: str) -> dict:
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    from dpo.pairs import run as run_pairs

    over = [f"run_dir={run_dir}", f"input_dir={store}", f"tokenizer={tok}", "plot=false"]
    with initialize_config_module(config_module="conf", version_base="1.3"):
        cfg = compose(config_name="pairs", overrides=[*over, *overrides])
    return run_pairs(OmegaConf.to_object(cfg))


@pytest.mark.parametrize("setting", list(PAIRS_SETTINGS))
def test_streaming_pairs_are_the_in_memory_ones_byte_for_byte(setting, smollm2_path, tmp_path):
    store = build_pairs_store(tmp_path / "store")
    runs = {
        "memory": [],
        "one task": ["stream.enabled=true"],
        "sharded": ["stream.enabled=true", "stream.tasks=3", "stream.memory_mb=0.001"],
    }
    got = {}
    for name, layout in runs.items():
        d = tmp_path / name.replace(" ", "_")
        summary = make_pairs(d, store, smollm2_path, *PAIRS_SETTINGS[setting], *layout)
        assert summary["status"] == "done"
        got[name] = {f: (d / "pairs" / f).read_bytes() for f in PAIRS_OUTPUTS}
    assert got["one task"] == got["memory"] and got["sharded"] == got["memory"]
    report = json.loads(got["memory"]["report.json"])
    pairs = [json.loads(x) for x in got["memory"]["pairs.jsonl"].splitlines()]
    assert pairs and len({(p["chosen_id"], p["rejected_id"]) for p in pairs}) == len(pairs)
    dedup = next(s for s in report["steps"] if s["step"] == "exact dedup")
    assert dedup["dropped"]["exact duplicate"] >= 3  # dup's copy and twin-b's two
    assert not any(p["problem_id"] == "twin-b" for p in pairs)
    if setting == "hardest":  # max_pairs cut in problem order: the lowest pass rates first
        assert len(pairs) == 7
        rates = [p["meta"]["pass_rate"] for p in pairs]
        assert rates == sorted(rates)


@pytest.mark.skipif(shutil.which("sbatch") is not None, reason="sbatch here would submit real jobs")
def test_the_slurm_executor_without_sbatch_is_refused_before_anything_is_written(
    big_store, smollm2_path, tmp_path
):
    with pytest.raises(ValueError) as e:
        curate(tmp_path, big_store, smollm2_path, "stream.enabled=true", "stream.executor=slurm")
    assert "sbatch, which is not on PATH" in str(e.value) and "stream.executor=local" in str(
        e.value
    )
    assert not (tmp_path / "curate").exists()
    # A store small enough for the in-memory path needs no sbatch, whatever the executor.
    done = curate(tmp_path, big_store, smollm2_path, "stream.executor=slurm", *FAST_DECONTAM)
    assert done["status"] == "done"


def test_the_slurm_route_is_one_job_array_per_step_each_after_the_one_before(tmp_path):
    """What datatrove's SlurmPipelineExecutor would submit for the README's cluster keys: the
    sbatch directives of each step's array, and the chain of dependencies."""
    from selection.stream import SlurmConfig, StreamConfig, executors

    s = StreamConfig(
        enabled=True,
        tasks=3,
        executor="slurm",
        slurm=SlurmConfig(partition="cpu-long", time="02:00:00", cpus_per_task=2),
    )
    step = lambda data=None, rank=0, world_size=1: None  # noqa: E731
    chain = executors([("select", step, 3), ("global", step, 1)], tmp_path, s, "rd-curate")
    assert [type(ex).__name__ for ex in chain] == ["SlurmPipelineExecutor"] * 2
    assert chain[1].depends is chain[0] and chain[0].depends is None
    script = chain[0].get_launch_file_contents(
        chain[0].get_sbatch_args(3), "launch_pickled_pipeline x"
    )
    for directive in (
        "--array=0-2",
        "--partition=cpu-long",
        "--time=02:00:00",
        "--cpus-per-task=2",
        "--job-name=rd-curate-select",
    ):
        assert f"#SBATCH {directive}" in script
    assert chain[1].tasks == 1 and Path(chain[1].logging_dir.path) == tmp_path / "logs" / "global"
