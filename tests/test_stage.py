"""The stage contract (rollout/stage.py) and every stage that follows it: a run, a second run that
does nothing, a result-changing key that runs again (old outputs moved aside, the key named), a
logging-only key that does nothing, a changed upstream output that runs again, and (training
stages) a SIGKILL in the middle after which the resumed run ends with an uninterrupted run's summary.
Tiny random models (tests/conftest.py) keep every stage to seconds."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from kill import kill_once

from rollout.stage import Stage, file_id, model_id

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- the helper itself


def toy(out: Path, cfg: dict, inputs=None, on_change="rerun") -> tuple[str, Stage]:
    """A stage that writes one file from its config: the helper's whole life cycle."""
    st = Stage(
        "toy",
        out,
        cfg,
        ignore=("log.*", "progress"),
        inputs=inputs or {},
        on_change=on_change,
        outputs=["result.txt"],
    )
    action = st.begin()
    if action != "done":
        (out / "result.txt").write_text(json.dumps(cfg))
        st.finish({"value": cfg["x"]})
    return action, st


def test_same_fingerprint_does_nothing_and_ignored_keys_do_not_count(tmp_path, capsys):
    out = tmp_path / "toy"
    assert toy(out, {"x": 1, "log": {"every": 5}, "progress": True})[0] == "run"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "done" and len(summary["fingerprint"]) == 16
    assert summary["config"] == {"x": 1}  # the ignored keys are not part of the identity
    before = (out / "summary.json").read_bytes()
    action, st = toy(out, {"x": 1, "log": {"every": 50}, "progress": False})
    assert action == "done" and st.previous["value"] == 1
    assert (out / "summary.json").read_bytes() == before
    assert "nothing to do" in capsys.readouterr().out


def test_a_changed_key_moves_the_old_outputs_aside_and_names_it(tmp_path, capsys):
    out = tmp_path / "toy"
    _, first = toy(out, {"x": 1, "other_key": "a"})
    action, second = toy(out, {"x": 2, "other_key": "a"})
    assert action == "run"
    aside = tmp_path / f"toy.{first.fingerprint[:8]}"
    assert second.moved_to == aside and json.loads((aside / "result.txt").read_text())["x"] == 1
    assert json.loads((out / "result.txt").read_text())["x"] == 2
    line = [ln for ln in capsys.readouterr().out.splitlines() if "changed since" in ln]
    assert len(line) == 1 and "x: 1 -> 2" in line[0] and "other_key" not in line[0], line
    # Back to the first settings: the folder moved aside is taken back, nothing recomputed.
    action, third = toy(out, {"x": 1, "other_key": "a"})
    assert action == "done" and third.previous["value"] == 1
    assert (tmp_path / f"toy.{second.fingerprint[:8]}" / "result.txt").exists()
    assert not aside.exists()


def test_on_change_error_names_the_changed_key_and_input(tmp_path):
    out = tmp_path / "toy"
    toy(out, {"x": 1}, inputs={"data": "sha256:aaaa"})
    with pytest.raises(
        ValueError, match=r"x: 1 -> 2; input data: .*aaaa.* -> .*bbbb.*on_change=error"
    ):
        toy(out, {"x": 2}, inputs={"data": "sha256:bbbb"}, on_change="error")
    assert json.loads((out / "result.txt").read_text())["x"] == 1  # untouched
    with pytest.raises(ValueError, match=r"on_change must be one of"):
        toy(out, {"x": 1}, on_change="sometimes")


def test_unfinished_outputs_resume_and_outputs_without_a_fingerprint_move_aside(tmp_path):
    out = tmp_path / "toy"
    st = Stage("toy", out, {"x": 1}, outputs=["result.txt"])
    assert st.begin() == "run"  # killed here: summary says running
    assert json.loads((out / "summary.json").read_text())["status"] == "running"
    assert Stage("toy", out, {"x": 1}, outputs=["result.txt"]).decide() == "resume"
    legacy = tmp_path / "old"
    legacy.mkdir()
    (legacy / "weights.bin").write_bytes(b"0")
    st = Stage("toy", legacy, {"x": 1})
    assert st.decide() == "run" and (tmp_path / "old.unknown" / "weights.bin").exists()
    assert "without a fingerprint" in st.changed[0]


def test_model_and_file_identities_follow_content_not_paths_or_times(tmp_path):
    a = tmp_path / "a"
    a.mkdir()
    (a / "config.json").write_text("{}")
    (a / "model.safetensors").write_bytes(b"weights")
    ident = model_id(str(a))
    b = tmp_path / "b"
    shutil.copytree(a, b)
    os.utime(b / "model.safetensors", (1, 1))
    (b / "README.md").write_text("a model card added later")
    assert model_id(str(b)) == ident and ident.startswith("sha256:")
    (b / "model.safetensors").write_bytes(b"weighty")  # same size would not matter either
    assert model_id(str(b)) != ident
    assert model_id("smollm2_135m") == "recipe:smollm2_135m"
    # A stage's checkpoint is known by that stage's fingerprint.
    final = tmp_path / "sft" / "final"
    shutil.copytree(a, final)
    (tmp_path / "sft" / "summary.json").write_text(
        json.dumps({"status": "done", "fingerprint": "0123456789abcdef"})
    )
    assert model_id(str(final)) == "sft@0123456789abcdef"
    f = tmp_path / "data.jsonl"
    f.write_text("1\n")
    before = file_id(f)
    f.write_text("2\n")
    assert file_id(f) != before


def test_resume_point_is_the_newest_complete_checkpoint(tmp_path):
    """A kill during a save leaves the newest checkpoint folder without trainer_state.json (the
    Trainer writes it last): the resume point is the one before it. transformers'
    get_last_checkpoint would pick the incomplete one, which is why rollout.stage filters it."""
    from transformers.trainer_utils import get_last_checkpoint

    from rollout.stage import last_checkpoint

    assert last_checkpoint(tmp_path / "nothing here") is None
    assert last_checkpoint(tmp_path) is None
    for step, complete in ((2, True), (9, True), (10, True), (12, False)):
        (tmp_path / f"checkpoint-{step}").mkdir()
        if complete:
            (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-notes.txt").write_text("not a checkpoint")
    assert last_checkpoint(tmp_path) == str(tmp_path / "checkpoint-10")  # by step, not by name
    assert get_last_checkpoint(str(tmp_path)) == str(tmp_path / "checkpoint-12")


# ----------------------------------------------------------------------------- the stages


def lines_with(text: str, phrase: str) -> list[str]:
    return [ln for ln in text.splitlines() if phrase in ln]


def assert_nothing_to_do(out: Path, run, capsys) -> dict:
    """Runs the stage again: nothing may be rewritten, and it must say so."""
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    summary = run()
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before
    assert "nothing to do" in capsys.readouterr().out
    return summary


def assert_ran_again(out: Path, old_fp: str, phrase: str, capsys) -> None:
    """The old outputs were moved aside (not deleted) and the one line names what changed."""
    assert (out.parent / f"{out.name}.{old_fp[:8]}" / "summary.json").exists()
    said = lines_with(capsys.readouterr().out, "changed since")
    assert len(said) == 1 and phrase in said[0], said


def test_pretrain_and_sft_follow_the_contract(smollm2_path, tmp_path, capsys):
    from test_distill_train import pretrain_cfg, write_corpus, write_sft

    from distill.pretrain import run as pretrain
    from distill.sft import SFTStageConfig
    from distill.sft import run as sft

    corpus = write_corpus(tmp_path / "corpus.jsonl", 24)

    def pcfg(**trainer):
        cfg = pretrain_cfg(tmp_path, smollm2_path, max_steps=3, **trainer)
        cfg.corpus = str(corpus)
        return cfg

    out = tmp_path / "pretrain"
    p1 = pretrain(pcfg())
    assert p1["status"] == "done" and p1["steps"] == 3 and p1["inputs"]["corpus"] == file_id(corpus)
    assert_nothing_to_do(out, lambda: pretrain(pcfg()), capsys)
    assert_nothing_to_do(out, lambda: pretrain(pcfg(logging_steps=2, report_to="none")), capsys)
    p2 = pretrain(pcfg(learning_rate=1e-3))
    assert p2["fingerprint"] != p1["fingerprint"]
    assert_ran_again(out, p1["fingerprint"], "trainer.learning_rate: 0.003 -> 0.001", capsys)
    with corpus.open("a") as f:  # the upstream output changes: the stage runs again
        f.write(json.dumps({"text": "What is 1 + 1? The answer is 2."}) + "\n")
    p3 = pretrain(pcfg(learning_rate=1e-3))
    assert_ran_again(out, p2["fingerprint"], "input corpus: ", capsys)

    data = write_sft(tmp_path / "sft.jsonl", 8)

    def scfg(**trainer):
        base = {"max_steps": 2, "per_device_train_batch_size": 4, "learning_rate": 3e-3}
        base.update({"logging_steps": 1, "max_length": 128, "save_steps": 1000})
        return SFTStageConfig(
            run_dir=str(tmp_path), data=str(data), init_from="pretrain", trainer={**base, **trainer}
        )

    out = tmp_path / "sft"
    s1 = sft(scfg())
    assert s1["inputs"]["init"] == f"pretrain@{p3['fingerprint']}"
    assert_nothing_to_do(out, lambda: sft(scfg()), capsys)
    assert_nothing_to_do(out, lambda: sft(scfg(logging_steps=5, report_to="none")), capsys)
    s2 = sft(scfg(learning_rate=1e-3))
    assert_ran_again(out, s1["fingerprint"], "trainer.learning_rate: 0.003 -> 0.001", capsys)
    p4 = pretrain(pcfg(learning_rate=2e-3))  # the checkpoint SFT starts from is trained again
    capsys.readouterr()
    s3 = sft(scfg(learning_rate=1e-3))
    assert s3["inputs"]["init"] == f"pretrain@{p4['fingerprint']}"
    assert_ran_again(out, s2["fingerprint"], "input init: ", capsys)
    with pytest.raises(ValueError, match=r"trainer.learning_rate: 0.001 -> 0.002.*on_change=error"):
        cfg = scfg(learning_rate=2e-3)
        cfg.on_change = "error"
        sft(cfg)
    assert json.loads((out / "summary.json").read_text())["fingerprint"] == s3["fingerprint"]


def test_dpo_and_its_sweep_points_follow_the_contract(tiny_model, tmp_path, capsys):
    from test_dpo import TRAINER, arithmetic_pairs, cfg_for, write_pairs

    from dpo.train import run as dpo

    data = write_pairs(tmp_path / "pairs.jsonl", arithmetic_pairs(4))
    out = tmp_path / "dpo"

    def cfg(**trainer):
        c = cfg_for(tmp_path, tiny_model, "dpo", max_steps=2, **trainer)
        c.final_eval = False
        return c

    d1 = dpo(cfg())
    assert d1["status"] == "done" and d1["inputs"]["data"] == file_id(data)
    assert d1["inputs"]["init"] == model_id(tiny_model)
    assert_nothing_to_do(out, lambda: dpo(cfg()), capsys)
    assert_nothing_to_do(out, lambda: dpo(cfg(logging_steps=2, save_steps=7)), capsys)
    d2 = dpo(cfg(beta=0.5))
    assert_ran_again(out, d1["fingerprint"], "trainer.beta: (unset) -> 0.5", capsys)
    write_pairs(data, arithmetic_pairs(5))  # new pairs upstream
    dpo(cfg(beta=0.5))
    assert_ran_again(out, d2["fingerprint"], "input data: ", capsys)

    # Sweep points (Hydra multirun; a point's folder is named by its overrides): a second sweep does
    # nothing; new pairs run every point again and move the old points beside the sweep folder,
    # where rd-sweep-report does not look.
    trainer = [f"trainer.{k}={v}" for k, v in TRAINER.items() if k != "max_steps"]

    def sweep(*extra):
        cmd = [sys.executable, "-m", "dpo.train", "--multirun", f"run_dir={tmp_path}"]
        cmd += [
            f"data={data}",
            f"init_from={tiny_model}",
            "final_eval=false",
            "trainer.max_steps=1",
        ]
        r = subprocess.run(
            [*cmd, *trainer, *extra, "trainer.beta=0.1,0.5"],
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert r.returncode == 0, r.stderr[-3000:]
        return r.stdout

    sweep()
    points = sorted(p for p in (tmp_path / "dpo_sweep").iterdir() if p.is_dir())
    assert len(points) == 2
    fps = {p.name: json.loads((p / "summary.json").read_text())["fingerprint"] for p in points}
    assert len(lines_with(sweep(), "nothing to do")) == 2
    write_pairs(data, arithmetic_pairs(6))  # new pairs: same point folders, new inputs
    said = sweep()
    assert len(lines_with(said, "changed since")) == 2 and "input data: " in said, said
    aside = tmp_path / "dpo_sweep.aside"
    assert sorted(p.name for p in aside.iterdir()) == sorted(
        f"{name}.{fp[:8]}" for name, fp in fps.items()
    )


def test_pairs_follow_the_contract(tmp_path, capsys):
    from test_pairs import cfg_for, ro, store

    from dpo.pairs import run as pairs
    from rollout.store import ShardWriter

    src = store(tmp_path)
    out = tmp_path / "pairs"
    a = pairs(cfg_for(tmp_path))
    assert a["status"] == "done" and a["inputs"]["store"].startswith("sha256:")

    def without_plot():
        cfg = cfg_for(tmp_path)
        cfg.plot = False
        return pairs(cfg)

    assert_nothing_to_do(out, lambda: pairs(cfg_for(tmp_path)), capsys)
    assert_nothing_to_do(out, without_plot, capsys)
    b = pairs(cfg_for(tmp_path, pairs_per_problem=1))
    assert_ran_again(out, a["fingerprint"], "pairs_per_problem: 4 -> 1", capsys)
    ShardWriter(src, 0, 1).append(
        [ro("mixed", 9, False, prompt="Problem mixed: what is three plus four?")]
    )
    c = pairs(cfg_for(tmp_path, pairs_per_problem=1))
    assert_ran_again(out, b["fingerprint"], "input store: ", capsys)
    assert c["fingerprint"] != b["fingerprint"]


def test_curate_follows_the_contract(tmp_path, smollm2_path, capsys):
    from test_curate import build_store, curate, rollout

    from rollout.store import ShardWriter

    src = tmp_path / "rollout"
    build_store(src)
    out = tmp_path / "curate"
    a, _ = curate(tmp_path, src, smollm2_path)
    assert a["status"] == "done" and a["inputs"]["store"].startswith("sha256:")
    assert_nothing_to_do(out, lambda: curate(tmp_path, src, smollm2_path)[0], capsys)
    assert_nothing_to_do(out, lambda: curate(tmp_path, src, smollm2_path, "plot=false")[0], capsys)
    b, _ = curate(tmp_path, src, smollm2_path, "sft.per_problem_cap=1")
    assert_ran_again(out, a["fingerprint"], "sft.per_problem_cap: 4 -> 1", capsys)
    ShardWriter(src).append([rollout("extra", "What is 6 + 1? Explain.", "alpha", 0, "7")])
    curate(tmp_path, src, smollm2_path, "sft.per_problem_cap=1")
    assert_ran_again(out, b["fingerprint"], "input store: ", capsys)


def test_eval_cells_follow_their_checkpoints(tiny_model, tmp_path, capsys):
    """Each checkpoint x benchmark is keyed on the checkpoint's identity: a retrained stage (new
    fingerprint) is evaluated again, the other checkpoints are not."""
    from test_eval import cfg_for

    from evaluation.evaluate import run as evaluate

    final = tmp_path / "sft" / "final"
    shutil.copytree(tiny_model, final)
    summary = tmp_path / "sft" / "summary.json"
    summary.write_text(json.dumps({"status": "done", "fingerprint": "1111111111111111"}))
    ckpts = {"base": tiny_model, "sft": str(final)}
    out = tmp_path / "eval"

    def run(**over):
        evaluate(cfg_for(tmp_path, ckpts, **over))
        return json.loads((out / "summary.json").read_text())

    first = run()
    assert sorted(first["evaluated"]) == [["base", "tiny"], ["sft", "tiny"]]
    assert first["inputs"]["checkpoints.sft"] == "sft@1111111111111111"
    capsys.readouterr()
    assert_nothing_to_do(out, run, capsys)
    assert_nothing_to_do(out, lambda: run(chunk_size=1, plot=False), capsys)
    cell = json.loads((out / "base" / "tiny" / "metrics.json").read_text())
    second = run(**{"sampling.max_tokens": 6})
    assert sorted(second["evaluated"]) == [["base", "tiny"], ["sft", "tiny"]]
    said = lines_with(capsys.readouterr().out, "changed since")
    assert said and all("sampling.max_tokens: 8 -> 6" in s for s in said), said
    assert (out / "base" / f"tiny.{cell['fingerprint'][:8]}" / "samples.jsonl").exists()
    # SFT trained again: its summary carries another fingerprint; only its cell is evaluated.
    summary.write_text(json.dumps({"status": "done", "fingerprint": "2222222222222222"}))
    third = run(**{"sampling.max_tokens": 6})
    assert third["evaluated"] == [["sft", "tiny"]] and third["reused"] == [["base", "tiny"]]


# ----------------------------------------------------------------------------- SIGKILL and resume


def stage_command(stage: str, run_dir: Path, tmp_path: Path, model: str) -> list[str]:
    from test_distill_train import TINY, write_corpus, write_sft
    from test_dpo import arithmetic_pairs, write_pairs

    common = [
        "trainer.max_steps=10",
        "trainer.save_steps=2",
        "trainer.save_total_limit=null",
        "trainer.logging_steps=1",
        "trainer.report_to=none",
        "trainer.per_device_train_batch_size=2",
        "trainer.lr_scheduler_type=constant",
        "trainer.learning_rate=1e-3",
    ]
    if stage == "pretrain":
        corpus = write_corpus(tmp_path / "corpus.jsonl", 60)
        tiny = ",".join(f"{k}:{v}" for k, v in TINY.items())
        extra = [f"corpus={corpus}", f"model.path={model}", f"++init_config={{{tiny}}}"]
        extra += ["pack.seq_len=64", "pack.workers=1"]
    elif stage == "sft":
        data = write_sft(tmp_path / "sft.jsonl", 24)
        extra = [f"data={data}", "init_from=base", f"model.path={model}"]
        extra += ["trainer.max_length=128", "++trainer.warmup_steps=0"]
    else:
        data = write_pairs(tmp_path / "pairs.jsonl", arithmetic_pairs(8))
        extra = [f"data={data}", f"init_from={model}", "final_eval=false"]
        extra += ["trainer.max_length=96", "++trainer.precompute_ref_batch_size=8"]
    module = {"pretrain": "distill.pretrain", "sft": "distill.sft", "dpo": "dpo.train"}[stage]
    return [sys.executable, "-m", module, f"run_dir={run_dir}", *common, *extra]


@pytest.mark.slow  # three processes per stage, ~1 min each on 2 cores
@pytest.mark.parametrize("stage", ["pretrain", "sft", "dpo"])
def test_sigkill_in_the_middle_then_resume_ends_like_an_uninterrupted_run(
    stage, tiny_model, tmp_path
):

    ref_dir, run_dir = tmp_path / "ref", tmp_path / "killed"
    r = subprocess.run(
        stage_command(stage, ref_dir, tmp_path, tiny_model),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    proc = subprocess.Popen(
        stage_command(stage, run_dir, tmp_path, tiny_model),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    kill_once(proc, run_dir / stage / "checkpoint-4" / "trainer_state.json")
    killed = json.loads((run_dir / stage / "summary.json").read_text())
    assert killed["status"] == "running"  # a killed stage never looks complete
    r = subprocess.run(
        stage_command(stage, run_dir, tmp_path, tiny_model),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert not list(tmp_path.glob(f"killed/{stage}.*"))  # resumed in place, nothing moved aside
    ref = json.loads((ref_dir / stage / "summary.json").read_text())
    got = json.loads((run_dir / stage / "summary.json").read_text())
    assert got["resumed_from"] and got["fingerprint"] == ref["fingerprint"] == killed["fingerprint"]
    assert got["steps"] == ref["steps"] == 10
    assert [s for s, _ in got["loss_by_step"]] == [s for s, _ in ref["loss_by_step"]]
    for (_, a), (_, b) in zip(got["loss_by_step"], ref["loss_by_step"], strict=True):
        assert a == pytest.approx(b, rel=1e-4)
    # Everything else in the summary is the same too, but for times and where things are.
    differ = {"seconds", "resumed_from", "final", "input_paths", "reference", "distributed"}
    for k in sorted(set(ref) | set(got)):
        if k in differ:
            continue
        if k == "history":  # TRL's running num_tokens counter is not checkpointed: it restarts
            strip = [{m: v for m, v in h.items() if m != "num_tokens"} for h in got[k]]
            assert _close(
                strip, [{m: v for m, v in h.items() if m != "num_tokens"} for h in ref[k]]
            )
        elif k in ("loss_by_step", "metrics", "train_loss", "first_loss", "last_loss"):
            assert _close(got[k], ref[k]), k
        else:
            assert got[k] == ref[k], k


def _close(a, b) -> bool:
    """Numbers equal to 1e-4 relative, anywhere in two JSON values of the same shape."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        return a == pytest.approx(b, rel=1e-4)
    return a == b


def test_rollout_follows_the_contract_as_far_as_an_append_only_store_allows(
    tiny_model, tmp_path, capsys
):
    from test_rollout import cfg_for

    from rollout.generate import run as rollout

    out = tmp_path / "rollout"
    shard = out / "shard-00000-of-00001.jsonl"

    def cfg(**over):
        return cfg_for(tiny_model, tmp_path, **{"rejection.max_rounds": 1, **over})

    first = rollout(cfg())
    assert first["status"] == "done" and first["fingerprint"]
    manifest = json.loads((out / "manifest-00000-of-00001.json").read_text())
    capsys.readouterr()
    assert_nothing_to_do(out, lambda: rollout(cfg()), capsys)
    assert_nothing_to_do(out, lambda: rollout(cfg(**{"verify.workers": 2})), capsys)
    with pytest.raises(ValueError, match=r"sampling.temperature: 0.7 -> 0.9.*on_change=error"):
        rollout(cfg(**{"sampling.temperature": 0.9, "on_change": "error"}))
    # on_change=rerun: this shard's files move aside and sampling starts over.
    before = shard.read_bytes()
    second = rollout(cfg(**{"sampling.temperature": 0.9, "on_change": "rerun"}))
    aside = tmp_path / f"rollout.{manifest['fingerprint'][:8]}"
    assert (aside / shard.name).read_bytes() == before
    said = lines_with(capsys.readouterr().out, "changed since")
    assert len(said) == 1 and "sampling.temperature: 0.7 -> 0.9" in said[0], said
    assert second["fingerprint"] != first["fingerprint"]  # the store's content changed
    rows = [json.loads(x) for x in shard.read_text().splitlines()]
    assert {r["sampling"]["temperature"] for r in rows} == {0.9}
    # on_change=extend (the default): named, and the new settings apply to unfinished problems.
    before = shard.read_bytes()
    rollout(cfg(**{"sampling.temperature": 0.9, "rejection.max_rounds": 2}))
    said = lines_with(capsys.readouterr().out, "changed since")
    assert len(said) == 1 and "rejection.max_rounds: 1 -> 2" in said[0] and "extending" in said[0]
    after = shard.read_bytes()
    assert after.startswith(before) and len(after) > len(before)
