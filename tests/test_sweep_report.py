"""rd-sweep-report: sweep folders built by hand, the report's rows, best point, files and CLI."""

import csv
import json
import math
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_module

from dpo.sweep_report import SweepReportConfig, parse_value, run

PNG = b"\x89PNG\r\n\x1a\n"
BETA, LR = "trainer.beta", "trainer.learning_rate"


def point(sweep, name, overrides, metrics=None, status="done", history=True, **extra):
    folder = sweep / name
    folder.mkdir(parents=True)
    steps = [{"step": s, "loss": 0.69 - 0.01 * s, "rewards/margins": 0.02 * s} for s in range(1, 4)]
    summary = {
        "status": status,
        "overrides": {k: str(v) for k, v in overrides.items()},
        "metrics": metrics or {},
        "history": steps if history else [],
        "final": str(folder / "final"),
        "seconds": 1.0,
        **extra,
    }
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def grid(sweep, fixed=None):
    """2x2 beta x lr; margins peak at beta=0.1, lr=1e-06; loss lowest at beta=0.05, lr=2e-06."""
    margins = {
        (0.05, "1e-06"): 0.10,
        (0.05, "2e-06"): 0.20,
        (0.1, "1e-06"): 0.40,
        (0.1, "2e-06"): 0.30,
    }
    loss = {
        (0.05, "1e-06"): 0.60,
        (0.05, "2e-06"): 0.50,
        (0.1, "1e-06"): 0.65,
        (0.1, "2e-06"): 0.55,
    }
    for i, (beta, lr) in enumerate(margins):
        metrics = {
            "train_loss": loss[beta, lr],
            "rewards/margins": margins[beta, lr],
            "rewards/accuracies": 0.75,
            "eval/heldout/pass@1": 0.2,
        }
        point(
            sweep,
            f"{BETA}={beta},{LR}={lr}" if i % 2 else str(i),
            {BETA: beta, LR: lr, **(fixed or {})},
            metrics,
        )


def cfg(sweep, **kw):
    return SweepReportConfig(sweep_dir=str(sweep), **kw)


def best_overrides(report):
    return {k: report["best"]["overrides"][k] for k in report["axes"]}


def test_a_2x2_grid_gives_four_rows_sorted_numerically_and_the_best_by_max(tmp_path, capsys):
    grid(tmp_path)
    report = run(cfg(tmp_path))
    assert report["axes"] == [BETA, LR] and report["fixed"] == {}
    assert len(report["rows"]) == 4 and sum(r["best"] for r in report["rows"]) == 1
    assert [(r["overrides"][BETA], r["overrides"][LR]) for r in report["rows"]] == [
        (0.05, 1e-06),
        (0.05, 2e-06),
        (0.1, 1e-06),
        (0.1, 2e-06),
    ]
    assert best_overrides(report) == {BETA: 0.1, LR: 1e-06}
    assert report["columns"][0] == "rewards/margins"
    assert report["columns"][1] == "eval/heldout/pass@1" and "train_loss" in report["columns"]
    md = (tmp_path / "report.md").read_text()
    assert md.count("★") == 1 and "**0.4**" in md and "![" in md and "(heatmap.png)" in md
    assert "| ★ | 0.1 | 1e-06 | **0.4** |" in md
    assert (
        "| best | trainer.beta | trainer.learning_rate | rewards/margins |"
        in capsys.readouterr().out
    )
    saved = json.loads((tmp_path / "report.json").read_text())
    assert {"metric", "mode", "axes", "fixed", "rows", "best", "unfinished"} <= set(saved)
    assert saved["best"]["point"] == report["best"]["point"]


def test_mode_min_picks_the_lowest(tmp_path):
    grid(tmp_path)
    report = run(cfg(tmp_path, metric="train_loss", mode="min"))
    assert best_overrides(report) == {BETA: 0.05, LR: 2e-06}
    assert report["columns"][0] == "train_loss"


def test_csv_has_a_header_and_exactly_one_best(tmp_path):
    grid(tmp_path)
    run(cfg(tmp_path))
    with (tmp_path / "report.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == [
        "point",
        BETA,
        LR,
        "rewards/margins",
        "eval/heldout/pass@1",
        "train_loss",
        "rewards/accuracies",
        "best",
    ]
    assert len(rows) == 4 and [r["best"] for r in rows].count("1") == 1
    best = next(r for r in rows if r["best"] == "1")
    assert (float(best[BETA]), float(best[LR]), float(best["rewards/margins"])) == (0.1, 1e-06, 0.4)


def test_heatmap_and_curves_are_real_pngs(tmp_path):
    grid(tmp_path)
    report = run(cfg(tmp_path))
    for name in ("heatmap.png", "curves.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG, name
        assert name in report["files"]
    assert not list(tmp_path.glob(".*tmp*"))


def test_plot_and_curves_can_be_turned_off(tmp_path):
    grid(tmp_path)
    report = run(cfg(tmp_path, plot=False, curves=False))
    assert not (tmp_path / "heatmap.png").exists() and not (tmp_path / "curves.png").exists()
    assert "](" not in (tmp_path / "report.md").read_text()
    assert report["files"] == ["report.md", "report.csv", "report.json"]


def test_unfinished_points_are_listed_not_fatal(tmp_path):
    grid(tmp_path)
    (tmp_path / "7").mkdir()  # still running: no summary.json yet
    point(tmp_path, "8", {BETA: 0.5, LR: "1e-06"}, status="failed", error="CUDA out of memory\n...")
    (tmp_path / "9").mkdir()
    (tmp_path / "9" / "summary.json").write_text('{"status": "do')  # torn write
    (tmp_path / "multirun.yaml").write_text("hydra: {}\n")
    report = run(cfg(tmp_path))
    assert len(report["rows"]) == 4 and report["axes"] == [BETA, LR]
    unfinished = {u["point"]: u for u in report["unfinished"]}
    assert set(unfinished) == {"7", "8", "9"}
    assert "no summary.json" in unfinished["7"]["reason"]
    assert (
        unfinished["8"]["status"] == "failed" and "CUDA out of memory" in unfinished["8"]["reason"]
    )
    assert "unreadable" in unfinished["9"]["reason"]
    md = (tmp_path / "report.md").read_text()
    assert "## Unfinished (3)" in md and "- `8`: status 'failed'" in md


def test_missing_metrics_show_a_dash_and_never_win(tmp_path):
    point(tmp_path, "0", {BETA: 0.1}, {"rewards/margins": 0.3, "train_loss": 0.6})
    point(tmp_path, "1", {BETA: 0.2}, {"train_loss": 0.5})
    point(tmp_path, "2", {BETA: 0.3}, {"rewards/margins": float("nan"), "train_loss": 0.4})
    report = run(cfg(tmp_path))
    assert report["best"]["point"] == "0"
    md = (tmp_path / "report.md").read_text()
    assert "|  | 0.2 | – | 0.5 |" in md
    with (tmp_path / "report.csv").open(newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["point"] == "1")
    assert row["rewards/margins"] == ""


def test_one_axis_makes_a_bar_chart_and_constant_overrides_are_fixed(tmp_path):
    for i, beta in enumerate(["0.5", "0.05", "0.1"]):
        point(
            tmp_path,
            str(i),
            {BETA: beta, "trainer.max_steps": 50, "loss_type": "sigmoid"},
            {"rewards/margins": float(beta)},
        )
    report = run(cfg(tmp_path))
    assert report["axes"] == [BETA]
    assert report["fixed"] == {"trainer.max_steps": 50, "loss_type": "sigmoid"}
    assert [r["overrides"][BETA] for r in report["rows"]] == [0.05, 0.1, 0.5]
    assert report["best"]["overrides"][BETA] == 0.5
    md = (tmp_path / "report.md").read_text()
    assert "fixed: `trainer.max_steps=50`, `loss_type=sigmoid`" in md
    assert "| best | trainer.beta | rewards/margins |" in md
    assert (tmp_path / "heatmap.png").read_bytes()[:8] == PNG


def test_three_axes_plot_the_first_two_with_the_best_over_the_third(tmp_path):
    i = 0
    for beta in (0.05, 0.1):
        for lr in ("1e-06", "5e-07"):
            for loss_type in ("sigmoid", "ipo"):
                m = beta * 10 + (lr == "5e-07") + (loss_type == "ipo") * 0.5
                point(
                    tmp_path,
                    str(i),
                    {BETA: beta, LR: lr, "trainer.loss_type": loss_type},
                    {"rewards/margins": m},
                )
                i += 1
    report = run(cfg(tmp_path))
    assert report["axes"] == [BETA, LR, "trainer.loss_type"] and len(report["rows"]) == 8
    assert best_overrides(report) == {BETA: 0.1, LR: 5e-07, "trainer.loss_type": "ipo"}
    assert report["rows"][0]["overrides"][LR] == 5e-07  # numeric, not text, order
    md = (tmp_path / "report.md").read_text()
    assert "each cell: the max over trainer.loss_type" in md
    assert (tmp_path / "heatmap.png").read_bytes()[:8] == PNG


def test_an_optuna_search_is_drawn_as_a_scatter_not_a_sparse_grid(tmp_path):
    trials = [
        (0.013, 2.1e-07),
        (0.31, 8.8e-06),
        (0.052, 1.3e-06),
        (0.12, 4.4e-07),
        (0.021, 5.9e-06),
    ]
    for i, (beta, lr) in enumerate(trials):
        point(tmp_path, str(i), {BETA: beta, LR: lr}, {"rewards/margins": beta + lr * 1e4})
    report = run(cfg(tmp_path))
    assert best_overrides(report) == {BETA: 0.31, LR: 8.8e-06}
    assert "not a grid: one dot per point" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "heatmap.png").read_bytes()[:8] == PNG


def test_a_single_point_has_no_heatmap_but_a_table(tmp_path):
    point(tmp_path, "0", {BETA: 0.1}, {"rewards/margins": 0.3})
    report = run(cfg(tmp_path))
    assert report["axes"] == [] and report["fixed"] == {BETA: 0.1}
    assert not (tmp_path / "heatmap.png").exists()
    md = (tmp_path / "report.md").read_text()
    assert "no heatmap" in md and "| best | point | rewards/margins |" in md
    assert "| ★ | 0 | **0.3** |" in md


def test_points_without_history_skip_the_curves(tmp_path):
    point(tmp_path, "0", {BETA: 0.1}, {"rewards/margins": 0.3}, history=False)
    point(tmp_path, "1", {BETA: 0.2}, {"rewards/margins": 0.2}, history=False)
    report = run(cfg(tmp_path))
    assert "curves.png" not in report["files"] and not (tmp_path / "curves.png").exists()
    assert "no curves" in (tmp_path / "report.md").read_text()


def test_overrides_in_hydras_list_form_are_read(tmp_path):
    for i, beta in enumerate(("0.1", "0.2")):
        folder = tmp_path / str(i)
        folder.mkdir()
        summary = {
            "status": "done",
            "overrides": [f"{BETA}={beta}"],
            "metrics": {"rewards/margins": i},
        }
        (folder / "summary.json").write_text(json.dumps(summary))
    report = run(cfg(tmp_path))
    assert report["axes"] == [BETA] and report["best"]["overrides"][BETA] == 0.2


def test_a_missing_metric_lists_the_available_ones(tmp_path):
    grid(tmp_path)
    with pytest.raises(ValueError, match=r"metric='rewards/margin'.*available: .*rewards/margins"):
        run(cfg(tmp_path, metric="rewards/margin"))


def test_a_bad_mode_is_rejected_by_name(tmp_path):
    grid(tmp_path)
    with pytest.raises(ValueError, match=r"mode must be one of \('max', 'min'\), got 'best'"):
        run(cfg(tmp_path, mode="best"))


def test_no_finished_point_is_an_error_that_names_the_unfinished(tmp_path):
    (tmp_path / "0").mkdir()
    point(tmp_path, "1", {BETA: 0.1}, status="failed")
    with pytest.raises(ValueError, match=r"no finished sweep points.*2 unfinished: 0, 1"):
        run(cfg(tmp_path))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0.05", 0.05),
        ("1e-06", 1e-06),
        ("3", 3),
        ("-2", -2),
        ("sigmoid", "sigmoid"),
        ("true", "true"),
        ("nan", "nan"),
        ("[1,2]", "[1,2]"),
        (None, None),
    ],
)
def test_parse_value(text, value):
    parsed = parse_value(text)
    assert parsed == value and type(parsed) is type(value)
    assert not (isinstance(parsed, float) and math.isnan(parsed))


def test_config_composes_and_rejects_an_unknown_key():
    from hydra.errors import ConfigCompositionException
    from omegaconf import OmegaConf

    with initialize_config_module(config_module="conf", version_base="1.3"):
        cfg_ = compose(config_name="sweep_report", overrides=["metric=train_loss", "mode=min"])
        typed = OmegaConf.to_object(cfg_)
        assert isinstance(typed, SweepReportConfig)
        assert (typed.metric, typed.mode, typed.sweep_dir, typed.plot) == (
            "train_loss",
            "min",
            None,
            True,
        )
        with pytest.raises(ConfigCompositionException, match="metrik"):
            compose(config_name="sweep_report", overrides=["metrik=x"])


CMD = [sys.executable, "-m", "dpo.sweep_report"]


def test_cli_writes_the_report_and_exits_0(tmp_path):
    grid(tmp_path / "runs" / "x" / "dpo_sweep")
    r = subprocess.run(
        [*CMD, "run_dir=runs/x", "metric=eval/heldout/pass@1"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "| ★ |" in r.stdout and "rd-sweep-report: wrote report.md" in r.stdout
    assert (tmp_path / "runs" / "x" / "dpo_sweep" / "report.csv").exists()


@pytest.mark.parametrize("make", [False, True], ids=["missing", "empty"])
def test_cli_exits_2_on_a_missing_or_empty_sweep_folder(tmp_path, make):
    if make:
        (tmp_path / "sweep").mkdir()
    r = subprocess.run(
        [*CMD, "sweep_dir=sweep"], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert r.returncode == 2
    expected = "no finished sweep points in sweep" if make else "no sweep folder at sweep"
    assert f"rd-sweep-report: error: {expected}" in r.stderr and "Traceback" not in r.stderr
