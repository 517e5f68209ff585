"""rd-sweep-report: gather a DPO sweep folder into one table, a heatmap and training curves.

    rd-sweep-report                                   # runs/demo/dpo_sweep, best by rewards/margins
    rd-sweep-report run_dir=runs/x metric=eval/heldout/pass@1
    rd-sweep-report sweep_dir=runs/x/dpo_sweep metric=train_loss mode=min plot=false

`rd-dpo --multirun` writes one folder per sweep point into the sweep folder, each with a
summary.json ({"status": "done", "overrides": {...}, "metrics": {...}, "history": [...]}). This
reads them all and writes, next to them: report.md (one row per point: the swept overrides, then
the metrics, the best row starred, then the unfinished points), report.csv (the same rows),
report.json, heatmap.png (the metric over the first two swept overrides) and curves.png (loss and
reward margins per step, one line per point). A point without summary.json, or whose status is
not "done", is listed as unfinished, never fatal, so it is safe to run while the sweep is going.
Folder names are not parsed: a point is known by its summary's overrides.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from rollout.store import save_figure_atomic, write_json_atomic, write_text_atomic

MODES = ("max", "min")
MISSING = "–"
# Columns after the chosen metric: held-out evals, then the usual DPO numbers, then the rest by name.
USUAL_METRICS = (
    "train_loss",
    "rewards/accuracies",
    "rewards/margins",
    "rewards/chosen",
    "rewards/rejected",
)
# Per-step series drawn in curves.png, from each point's history.
CURVES = ("loss", "rewards/margins")


@dataclass
class SweepReportConfig:
    run_dir: str = "runs/demo"
    sweep_dir: str | None = None  # the folder rd-dpo --multirun wrote; None: run_dir/dpo_sweep
    metric: str = "rewards/margins"  # a key of each summary's "metrics": the best, the heatmap
    mode: str = "max"  # "max" or "min": which end of `metric` is best
    plot: bool = True  # heatmap.png
    curves: bool = True  # curves.png


ConfigStore.instance().store(name="sweep_report_schema", node=SweepReportConfig)


# ---------------------------------------------------------------------------------------------
# Reading the sweep folder.


def parse_value(value: Any) -> Any:
    """An override's value as a number when it reads as one ("1e-06" -> 1e-06), else the string."""
    if value is None:
        return None
    text = str(value).strip()
    for kind in (int, float):
        try:
            number = kind(text)
        except ValueError:
            continue
        if math.isfinite(number):
            return number
    return text


def value_key(value: Any) -> tuple:
    """Sorts numbers numerically, then strings, then missing values."""
    if value is None:
        return (2, 0, "")
    if isinstance(value, int | float):
        return (0, value, "")
    return (1, 0, str(value))


def _number(value: Any) -> float | None:
    """A finite number, or None (missing, text, NaN: such a value can never be best)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _overrides(raw: Any) -> dict[str, Any]:
    # A dict {"key": "value"}, or Hydra's own list form ["key=value", ...].
    if isinstance(raw, list):
        raw = dict(str(item).split("=", 1) for item in raw if "=" in str(item))
    if not isinstance(raw, dict):
        return {}
    return {str(k): parse_value(v) for k, v in raw.items()}


def load_points(sweep_dir: Path) -> tuple[list[dict], list[dict]]:
    """(finished points, unfinished points) from the sweep folder's subfolders, in name order."""
    folders = sorted(
        (p for p in sweep_dir.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: (0, int(p.name), "") if p.name.isdigit() else (1, 0, p.name),
    )
    done, unfinished = [], []
    for folder in folders:
        path = folder / "summary.json"
        if not path.is_file():
            reason = "no summary.json (running, not started, or killed)"
            unfinished.append({"point": folder.name, "status": None, "reason": reason})
            continue
        try:
            summary = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(summary, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as e:
            reason = f"unreadable summary.json ({e})"
            unfinished.append({"point": folder.name, "status": None, "reason": reason})
            continue
        overrides = _overrides(summary.get("overrides"))
        status = summary.get("status")
        if status != "done":
            reason = f"status {status!r}"
            if summary.get("error"):
                reason += ": " + (str(summary["error"]).strip().splitlines() or [""])[0][:200]
            unfinished.append(
                {"point": folder.name, "status": status, "reason": reason, "overrides": overrides}
            )
            continue
        metrics = summary.get("metrics")
        history = summary.get("history")
        done.append(
            {
                "point": folder.name,
                "overrides": overrides,
                "metrics": metrics if isinstance(metrics, dict) else {},
                "history": [h for h in history if isinstance(h, dict)]
                if isinstance(history, list)
                else [],
                "final": summary.get("final"),
                "seconds": summary.get("seconds"),
            }
        )
    return done, unfinished


# ---------------------------------------------------------------------------------------------
# The table.


def split_overrides(points: list[dict]) -> tuple[list[str], dict[str, Any]]:
    """(swept keys, in the order first seen; {key: value} of the overrides every point shares)."""
    keys = list(dict.fromkeys(k for p in points for k in p["overrides"]))
    axes, fixed = [], {}
    for key in keys:
        values = {p["overrides"].get(key) for p in points}
        if len(values) > 1:
            axes.append(key)
        else:
            fixed[key] = values.pop()
    return axes, fixed


def metric_columns(points: list[dict], metric: str) -> list[str]:
    """The table's metric columns: the chosen one first. Nested values (dicts, lists) stay in JSON."""
    keys = {
        k
        for p in points
        for k, v in p["metrics"].items()
        if v is None or isinstance(v, int | float | str)
    }
    rest = sorted(keys - {metric})
    evals = [k for k in rest if k.startswith("eval")]
    usual = [k for k in USUAL_METRICS if k in keys and k != metric]
    others = [k for k in rest if k not in evals and k not in usual]
    return [metric, *evals, *usual, *others]


def build_rows(points: list[dict], axes: list[str], metric: str, mode: str) -> list[dict]:
    """One row per point, sorted by its swept values; exactly one has best=True."""
    ordered = sorted(points, key=lambda p: [value_key(p["overrides"].get(a)) for a in axes])
    rows = [
        {
            "point": p["point"],
            "overrides": p["overrides"],
            "metrics": p["metrics"],
            "best": False,
            "seconds": p["seconds"],
            "final": p["final"],
        }
        for p in ordered
    ]
    scored = [
        (i, v) for i, r in enumerate(rows) if (v := _number(r["metrics"].get(metric))) is not None
    ]
    # max() and min() keep the first of equals: ties go to the earlier row.
    pick = max if mode == "max" else min
    rows[pick(scored, key=lambda iv: iv[1])[0]]["best"] = True
    return rows


def fmt(value: Any, digits: int = 4) -> str:
    """A cell: numbers to `digits` significant digits, missing values as a dash."""
    if value is None:
        return MISSING
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def short_names(axes: list[str]) -> dict[str, str]:
    """ "trainer.beta" -> "beta" where the last part is unique among the axes, else the full key."""
    tails = [a.rsplit(".", 1)[-1] for a in axes]
    return {a: t if tails.count(t) == 1 else a for a, t in zip(axes, tails, strict=True)}


def point_label(row: dict, axes: list[str]) -> str:
    if not axes:
        return row["point"]
    names = short_names(axes)
    return ", ".join(f"{names[a]}={fmt(row['overrides'].get(a), 6)}" for a in axes)


def markdown_table(rows: list[dict], axes: list[str], columns: list[str]) -> str:
    head = ["best", *(axes or ["point"]), *columns]
    lines = [
        "| " + " | ".join(_md(h) for h in head) + " |",
        "|:-:|" + "---:|" * (len(head) - 1),
    ]
    for r in rows:
        keys = [fmt(r["overrides"].get(a), 6) for a in axes] or [r["point"]]
        values = [fmt(r["metrics"].get(c)) for c in columns]
        if r["best"]:
            values[0] = f"**{values[0]}**"
        cells = ["★" if r["best"] else "", *keys, *values]
        lines.append("| " + " | ".join(_md(c) for c in cells) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Outputs.


def write_csv(path: Path, rows: list[dict], axes: list[str], columns: list[str]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["point", *axes, *columns, "best"])
    for r in rows:
        writer.writerow(
            [
                r["point"],
                *["" if r["overrides"].get(a) is None else r["overrides"][a] for a in axes],
                *["" if r["metrics"].get(c) is None else r["metrics"][c] for c in columns],
                int(r["best"]),
            ]
        )
    write_text_atomic(path, buf.getvalue())


def _best_per_cell(rows: list[dict], axes: list[str], metric: str, mode: str) -> dict[tuple, float]:
    """{values of `axes`: the best metric among the rows that share them}."""
    cells: dict[tuple, float] = {}
    for r in rows:
        v = _number(r["metrics"].get(metric))
        if v is None:
            continue
        key = tuple(r["overrides"].get(a) for a in axes)
        if key not in cells or (v > cells[key] if mode == "max" else v < cells[key]):
            cells[key] = v
    return cells


def _numeric(values: list) -> bool:
    return all(isinstance(v, int | float) for v in values)


def _log_scale(values: list) -> bool:
    # Learning rates and betas are swept over decades: a log axis spaces them evenly.
    return _numeric(values) and min(values) > 0 and max(values) / min(values) >= 20


def plot_heatmap(path: Path, rows: list[dict], axes: list[str], metric: str, mode: str) -> str:
    """heatmap.png: the metric over axes[0] (rows) x axes[1] (columns). Returns its caption.

    One axis: a bar chart. More than two: each cell holds the best over the others. Two numeric
    axes with most cells empty (an Optuna search, not a grid): a scatter plot at the values.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = axes[:2]
    cells = _best_per_cell(rows, shown, metric, mode)
    values = [sorted({r["overrides"].get(a) for r in rows}, key=value_key) for a in shown]
    best = next(r for r in rows if r["best"])
    best_key = tuple(best["overrides"].get(a) for a in shown)
    # Bright is best in both modes; cells with no value stay grey.
    cmap = plt.get_cmap("viridis" if mode == "max" else "viridis_r").with_extremes(bad="#d9d9d9")
    title = f"{metric} ({mode} is best)"
    if len(axes) > 2:
        title += f"; each cell: the {mode} over {', '.join(axes[2:])}"

    if len(shown) == 1:
        fig = _bars(plt, values[0], cells, best_key, shown[0], metric)
    elif _numeric(values[0] + values[1]) and len(cells) < 0.5 * len(values[0]) * len(values[1]):
        title += "; not a grid: one dot per point"
        fig = _scatter(plt, cells, best_key, shown, metric, cmap)
    else:
        fig = _grid(plt, values, cells, best_key, shown, metric, cmap)
    fig.axes[0].set_title(title, fontsize="medium")
    save_figure_atomic(fig, path, bbox_inches="tight")
    return title


def _bars(plt, xs: list, cells: dict, best_key: tuple, axis: str, metric: str):
    xs = [x for x in xs if (x,) in cells]
    heights = [cells[(x,)] for x in xs]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.0 + 0.7 * len(xs)), 3.8), dpi=110)
    colors = ["#ef8636" if (x,) == best_key else "#3b75af" for x in xs]
    bars = ax.bar(range(len(xs)), heights, color=colors)
    ax.bar_label(bars, labels=[fmt(h, 3) for h in heights], fontsize="small")
    ax.set_xticks(range(len(xs)), [fmt(x, 6) for x in xs], rotation=45 if len(xs) > 10 else 0)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xlabel(axis)
    ax.set_ylabel(metric)
    return fig


def _grid(plt, values: list, cells: dict, best_key: tuple, axes: list, metric: str, cmap):
    import numpy as np
    from matplotlib.patches import Rectangle

    ys, xs = values
    grid = np.full((len(ys), len(xs)), np.nan)
    for (y, x), v in cells.items():
        grid[ys.index(y), xs.index(x)] = v
    fig, ax = plt.subplots(
        figsize=(max(5.0, 1.5 + 1.0 * len(xs)), max(3.5, 1.2 + 0.6 * len(ys))), dpi=110
    )
    im = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, aspect="auto")
    for (iy, ix), v in np.ndenumerate(grid):
        if np.isfinite(v):
            r, g, b, _ = cmap(im.norm(v))
            color = "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"
            ax.text(ix, iy, fmt(float(v), 3), ha="center", va="center", color=color)
    by, bx = ys.index(best_key[0]), xs.index(best_key[1])
    ax.add_patch(Rectangle((bx - 0.5, by - 0.5), 1, 1, fill=False, edgecolor="#d62728", lw=3))
    ax.set_xticks(range(len(xs)), [fmt(x, 6) for x in xs])
    ax.set_yticks(range(len(ys)), [fmt(y, 6) for y in ys])
    ax.set_xlabel(axes[1])
    ax.set_ylabel(axes[0])
    fig.colorbar(im, ax=ax, label=metric)
    return fig


def _scatter(plt, cells: dict, best_key: tuple, axes: list, metric: str, cmap):
    ys, xs = zip(*cells, strict=True)
    fig, ax = plt.subplots(figsize=(6.0, 4.5), dpi=110)
    dots = ax.scatter(xs, ys, c=list(cells.values()), cmap=cmap, s=90, edgecolors="black")
    for (y, x), v in cells.items():
        ax.annotate(fmt(v, 3), (x, y), textcoords="offset points", xytext=(0, 11), ha="center")
    ax.scatter([best_key[1]], [best_key[0]], s=320, facecolors="none", edgecolors="#d62728", lw=2.5)
    ax.margins(0.12)  # room for the labels above the top dots
    if _log_scale(list(xs)):
        ax.set_xscale("log")
    if _log_scale(list(ys)):
        ax.set_yscale("log")
    ax.set_xlabel(axes[1])
    ax.set_ylabel(axes[0])
    fig.colorbar(dots, ax=ax, label=metric)
    return fig


def plot_curves(path: Path, rows: list[dict], axes: list[str], histories: dict[str, list]) -> bool:
    """curves.png: each CURVES series per step, one line per point. False when no history has any.

    `histories` maps a row's point to its summary's "history" (logged steps, kept out of the rows).
    """
    series: dict[str, list[tuple[dict, list[float], list[float]]]] = {k: [] for k in CURVES}
    for r in rows:
        for key in CURVES:
            steps, ys = [], []
            for i, h in enumerate(histories.get(r["point"], [])):
                y = _number(h.get(key))
                if y is not None:
                    step = _number(h.get("step"))
                    steps.append(step if step is not None else i)
                    ys.append(y)
            if ys:
                series[key].append((r, steps, ys))
    panels = [k for k in CURVES if series[k]]
    if not panels:
        return False

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("tab10" if len(rows) <= 10 else "tab20")
    color = {r["point"]: cmap(i % cmap.N) for i, r in enumerate(rows)}
    fig, axs = plt.subplots(
        1, len(panels), figsize=(5.5 * len(panels), 3.8), dpi=110, squeeze=False
    )
    for ax, key in zip(axs[0], panels, strict=True):
        for r, steps, ys in series[key]:
            ax.plot(
                steps,
                ys,
                color=color[r["point"]],
                linewidth=2.2 if r["best"] else 1.2,
                label=point_label(r, axes) + (" (best)" if r["best"] else ""),
                marker="o" if len(steps) <= 20 else None,
                markersize=3,
            )
        ax.set_xlabel("step")
        ax.set_ylabel(key)
        ax.set_title(f"{key} per step")
    axs[0][-1].legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.tight_layout()
    save_figure_atomic(fig, path, bbox_inches="tight")
    return True


def report_markdown(
    report: dict, table: str, images: list[tuple[str, str]], notes: list[str]
) -> str:
    best, metric = report["best"], report["metric"]
    total = len(report["rows"]) + len(report["unfinished"])
    lines = [
        f"# DPO sweep: {report['sweep_dir']}",
        "",
        f"{len(report['rows'])} of {total} points finished; best by `{metric}` ({report['mode']}).",
    ]
    if report["fixed"]:
        fixed = ", ".join(f"`{k}={fmt(v, 6)}`" for k, v in report["fixed"].items())
        lines.append(f"fixed: {fixed}")
    label = point_label(best, report["axes"])
    lines += [
        "",
        table,
        "",
        f"**best**: {label} (folder `{best['point']}`): "
        f"{metric} = {fmt(best['metrics'][metric], 6)}",
    ]
    if report["unfinished"]:
        lines += ["", f"## Unfinished ({len(report['unfinished'])})", ""]
        lines += [f"- `{u['point']}`: {u['reason']}" for u in report["unfinished"]]
    if images or notes:
        lines.append("")
    lines += [f"![{caption}]({name})" for name, caption in images]
    lines += [f"_{note}_" for note in notes]
    return "\n".join(lines) + "\n"


def run(cfg: SweepReportConfig) -> dict[str, Any]:

    # Check the config and find the sweep folder.
    if cfg.mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {cfg.mode!r}")
    sweep_dir = Path(cfg.sweep_dir) if cfg.sweep_dir else Path(cfg.run_dir) / "dpo_sweep"
    if not sweep_dir.is_dir():
        raise ValueError(
            f"no sweep folder at {sweep_dir}: run rd-dpo --multirun first (it writes "
            "run_dir/dpo_sweep), or set sweep_dir=<the sweep's folder>"
        )

    # Read every point; unfinished ones are reported, never fatal.
    done, unfinished = load_points(sweep_dir)
    if not done:
        detail = ""
        if unfinished:
            names = ", ".join(u["point"] for u in unfinished[:10])
            more = ", ..." if len(unfinished) > 10 else ""
            detail = f"; {len(unfinished)} unfinished: {names}{more}"
        raise ValueError(
            f"no finished sweep points in {sweep_dir} (a point is a subfolder whose summary.json "
            f'has "status": "done"){detail}'
        )
    available = sorted({k for p in done for k in p["metrics"]})
    if cfg.metric not in available:
        raise ValueError(
            f"metric={cfg.metric!r} is in no finished point's summary.json; "
            f"available: {', '.join(available) or 'none'}"
        )
    if all(_number(p["metrics"].get(cfg.metric)) is None for p in done):
        raise ValueError(
            f"metric={cfg.metric!r} has no finite number in any finished point; pick another of: "
            + ", ".join(available)
        )

    # Build the table: swept overrides, then metrics; one best row.
    axes, fixed = split_overrides(done)
    columns = metric_columns(done, cfg.metric)
    rows = build_rows(done, axes, cfg.metric, cfg.mode)
    report: dict[str, Any] = {
        "sweep_dir": str(sweep_dir),
        "metric": cfg.metric,
        "mode": cfg.mode,
        "axes": axes,
        "fixed": fixed,
        "columns": columns,
        "rows": rows,
        "best": next(r for r in rows if r["best"]),
        "unfinished": unfinished,
    }

    # Plots first, so that report.md links only images that exist.
    images: list[tuple[str, str]] = []
    notes: list[str] = []
    if cfg.plot and axes:
        images.append(
            (
                "heatmap.png",
                plot_heatmap(sweep_dir / "heatmap.png", rows, axes, cfg.metric, cfg.mode),
            )
        )
    elif cfg.plot:
        notes.append("no heatmap: every finished point has the same overrides")
    if cfg.curves:
        histories = {p["point"]: p["history"] for p in done}
        if plot_curves(sweep_dir / "curves.png", rows, axes, histories):
            images.append(("curves.png", "training curves per point"))
        else:
            notes.append(f"no curves: no point's history has {' or '.join(CURVES)}")

    # Write the table three ways.
    table = markdown_table(rows, axes, columns)
    markdown = report_markdown(report, table, images, notes)
    write_csv(sweep_dir / "report.csv", rows, axes, columns)
    report["files"] = ["report.md", "report.csv", "report.json", *(name for name, _ in images)]
    write_json_atomic(sweep_dir / "report.json", report)
    write_text_atomic(sweep_dir / "report.md", markdown)
    print(markdown, end="")
    print(f"rd-sweep-report: wrote {', '.join(report['files'])} in {sweep_dir}")
    return report


@hydra.main(config_path="pkg://conf", config_name="sweep_report", version_base="1.3")
def _hydra_main(cfg) -> None:
    typed: SweepReportConfig = OmegaConf.to_object(cfg)  # type: ignore[assignment]
    try:
        run(typed)
    except ValueError as e:
        print(f"rd-sweep-report: error: {e}", file=sys.stderr)
        sys.exit(2)


def main() -> None:
    _hydra_main()


if __name__ == "__main__":
    main()
