"""The stage contract (rollout/stage.py) and every stage that follows it: a run, a second run that
does nothing, a result-changing key that runs again (old outputs moved aside, the key named), a
logging-only key that does nothing, a changed upstream output that runs again, and (training
stages) a SIGKILL in the middle after which the resumed run ends with an uninterrupted run's summary.
Tiny random models (tests/conftest.py) keep every stage to seconds."""

import json
import os
import shutil
from pathlib import Path

import pytest

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
