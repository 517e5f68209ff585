"""The report writer of the selection stages (rd-curate, rd-pairs): report.json, report.md and the
length histogram lengths.png, with the parts both reports share (the heading, the table of what
every selection step kept and dropped). Each stage adds its own sections to the markdown."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


def heading(command: str, input_dir: str) -> list[str]:
    return [f"# {command} report: {input_dir}", ""]


def steps_table(rows: list[dict[str, Any]]) -> list[str]:
    """Markdown lines of a Steps record (selection/steps.py): one row per step, drops by reason."""
    lines = ["| step | in | kept | dropped |", "|---|---:|---:|---|"]
    for row in rows:
        dropped = ", ".join(f"{k}: {v}" for k, v in row["dropped"].items()) or "-"
        lines.append(f"| {row['step']} | {row['in']} | {row['kept']} | {dropped} |")
    return lines


@dataclass
class LengthPlot:
    """Overlaid token-length histograms, one per series, on shared bins (about 30 of them)."""

    series: dict[str, list[int]]  # legend label -> lengths; an empty series is left out
    title: str
    xlabel: str
    ylabel: str
    colors: tuple[str, ...] | None = None  # one per series; None: matplotlib's colour cycle
    alpha: float = 0.7


def plot_lengths(plot: LengthPlot, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rollout.store import save_figure_atomic

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=110)
    if any(plot.series.values()):
        top = max(max(v) for v in plot.series.values() if v)
        step = max(1, top // 30)
        bins = list(range(0, top + step + 1, step))
        for i, (label, lens) in enumerate(plot.series.items()):
            if lens:
                color = plot.colors[i] if plot.colors else None
                ax.hist(lens, bins=bins, alpha=plot.alpha, label=label, color=color)
        ax.legend()
    ax.set_xlabel(plot.xlabel)
    ax.set_ylabel(plot.ylabel)
    ax.set_title(plot.title)
    fig.tight_layout()
    save_figure_atomic(fig, path)


def write_report(
    out: Path, report: dict[str, Any], markdown: str, plot: LengthPlot | None = None
) -> None:
    """report.json, report.md and (with a plot) lengths.png under out, each written atomically."""
    from rollout.store import write_json_atomic, write_text_atomic

    write_json_atomic(out / "report.json", report)
    write_text_atomic(out / "report.md", markdown)
    if plot is not None:
        plot_lengths(plot, out / "lengths.png")
