"""The held-out evaluation set is defined once (conf/problems/heldout.yaml, and the pipelines' reduced
heldout_arith.yaml) and every stage takes it by name: rd-eval scores it, rd-curate and rd-pairs
decontaminate against it, in the shipped configs and in both pipelines' per-stage overrides."""

import re
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

import evaluation.evaluate  # noqa: F401  (registers eval_schema)
from distill.curate import CurateConfig
from dpo.pairs import PairsConfig
from rollout.problems import problems_preset
from selection.decontam import checked_sets

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = [
    "README.md",
    "conf",
    "verifiers",
    "rollout",
    "selection",
    "distill",
    "dpo",
    "evaluation",
    "pipeline",
]
DEFINITIONS = {"conf/problems/heldout.yaml", "conf/problems/heldout_arith.yaml"}
# `seed: 1000`, `seed=1000`, `"seed": 1000`, `seed = 1000`
HELDOUT_SEED = re.compile(r"\bseed\W{0,3}[:=]\s*1000\b")


def test_only_the_conf_problems_entries_spell_the_heldout_seed():
    spelled = set()
    for package in PACKAGES:
        root = ROOT / package
        for path in [root] if root.is_file() else root.rglob("*"):
            if not path.is_file() or path.suffix not in {".py", ".yaml", ".md", ".json", ".txt"}:
                continue
            if HELDOUT_SEED.search(path.read_text(encoding="utf-8", errors="replace")):
                spelled.add(path.relative_to(ROOT).as_posix())
    assert spelled == DEFINITIONS, (
        f"the held-out set's seed is written outside conf/problems/heldout*.yaml: "
        f"{sorted(spelled - DEFINITIONS)}; select the set by name instead "
        "(problems@decontam.heldout=..., problems@benchmarks.heldout=...)"
    )


def test_the_pattern_catches_every_spelling():
    for text in (
        "seed: 1000",
        "seed=1000",
        '"seed": 1000',
        "seed = 1000",
        "{seed: 1000, count: 64}",
    ):
        assert HELDOUT_SEED.search(text), text
    for text in ("seed: 10000", "seed: 100", "choice_seed: 0", "seed=10001"):
        assert not HELDOUT_SEED.search(text), text


def composed(name: str, overrides: list[str] | None = None):
    with initialize_config_module(config_module="conf", version_base="1.3"):
        return OmegaConf.to_object(compose(config_name=name, overrides=overrides or []))


def test_curate_pairs_and_eval_take_the_set_by_name():
    heldout = problems_preset("heldout")
    assert (heldout.source, heldout.seed, heldout.count) == ("synthetic", 1000, 200)
    assert heldout.generators is None and heldout.difficulty == [1, 2, 3]
    for name in ("curate", "pairs"):
        cfg = composed(name)
        assert cfg.decontam.heldout == heldout, name
        assert all(s.source != "synthetic" for s in cfg.decontam.sets), name
        smaller = composed(name, ["problems@decontam.heldout=heldout_arith"])
        assert smaller.decontam.heldout == problems_preset("heldout_arith"), name
        off = composed(
            name, ["decontam.heldout=null", "decontam.sets=[]", "decontam.benchmarks=[]"]
        )
        assert checked_sets(off.decontam) == [], name
    assert composed("eval").benchmarks["heldout"] == heldout
    # The Python default names the same file; it does not restate it.
    assert CurateConfig().decontam.heldout == PairsConfig().decontam.heldout == heldout


@pytest.mark.parametrize(("experiment", "limit"), [(None, None), ("smoke", 12)])
def test_each_pipeline_evaluates_on_the_set_it_decontaminates(experiment, limit):
    """rd-pipeline passes overrides.<stage> to each stage's command; composed as those commands
    compose them, curate, pairs and eval all use heldout_arith (smoke evaluates its first 12)."""
    from pipeline.run import compose_stage, fill_budget

    arith = problems_preset("heldout_arith")
    assert (arith.seed, arith.count, arith.generators, arith.difficulty) == (
        1000,
        64,
        ["arithmetic"],
        [1],
    )
    overrides = [f"experiment={experiment}"] if experiment else []
    with initialize_config_module(config_module="conf", version_base="1.3"):
        cfg = OmegaConf.to_object(compose(config_name="pipeline", overrides=overrides))
        stages = {s: compose_stage(cfg, s) for s in ("curate", "pairs", "eval")}
    # The plan reads the size from the composed eval config.
    budget = fill_budget("eval", cfg.plan["eval"].budget, stages["eval"])
    assert budget == f"4 checkpoints x {limit or 64} problems, greedy=True"
    evaluated = stages["eval"].benchmarks["heldout"]
    for stage_set in (
        stages["curate"].decontam.heldout,
        stages["pairs"].decontam.heldout,
        evaluated,
    ):
        assert stage_set.limit == limit  # decontaminated against exactly what is evaluated
        stage_set.limit = None
        assert stage_set == arith
