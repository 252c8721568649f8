"""The study's outputs: JSON (every curve), a Markdown table, and a PNG of macro-F1 vs labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from streamproc_models.active_learning.study import REPORT_FRACTIONS
from streamproc_models.plots import save_figure


def table_rows(result: dict) -> list[list[str]]:
    """One row per data set and strategy: macro-F1 at the report fractions, gain over random, full pool."""
    rows = []
    for name, data in result["datasets"].items():
        for strategy, row in data["summary"].items():
            if strategy == "predicted_loss_vs_margin":
                continue
            cells = [name, strategy]
            for fraction in REPORT_FRACTIONS:
                point = row[f"{fraction:.2f}"]
                gain = point.get("vs_random")
                cells.append(f"{point['macro_f1_mean']:.3f} ± {point['macro_f1_sd']:.3f}")
                cells.append(f"{gain['mean'] * 100:+.1f}" if gain else "")
            reached = row["reaches_full_pool_at"]
            cells.append(f"{reached['fraction']:.1%}" if reached else "not reached")
            cells.append(f"{data['full_pool']['macro_f1']:.3f}")
            rows.append(cells)
    return rows


def table_header() -> list[str]:
    """Column names of `table_rows`."""
    header = ["data set", "strategy"]
    for fraction in REPORT_FRACTIONS:
        header += [f"macro-F1 @ {fraction:.0%}", f"vs random (pts) @ {fraction:.0%}"]
    return [*header, "within 1 pt of full pool at", "full pool"]


def markdown(result: dict) -> str:
    """The table, and the predicted-loss vs margin comparison, as Markdown."""
    header = table_header()
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(result)]
    lines += ["", "Predicted loss minus margin, macro-F1 points (mean ± sd over seeds of the paired difference):", ""]
    for name, data in result["datasets"].items():
        comparison = data["summary"].get("predicted_loss_vs_margin")
        if not comparison:
            continue
        parts = [
            f"{key}: {d['mean'] * 100:+.1f} ± {d['sd'] * 100:.1f} (wins {d['wins']}/{d['n']}"
            f"{', beyond the spread' if d['beyond_spread'] else ''})"
            for key, d in comparison.items()
        ]
        lines.append(f"- {name}: " + "; ".join(parts))
    return "\n".join(lines) + "\n"


def curves_png(result: dict, path: Path) -> Path:
    """One panel per data set: mean macro-F1 (band = ± sd over seeds) vs labels, all strategies."""
    names = list(result["datasets"])
    fig = Figure(figsize=(6 * len(names), 4.6))
    axes = fig.subplots(1, len(names), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        data = result["datasets"][name]
        sizes = np.asarray(data["sizes"])
        for strategy, runs in data["curves"].items():
            scores = np.asarray([run["macro_f1"] for run in runs])
            mean, sd = scores.mean(axis=0), scores.std(axis=0, ddof=1) if len(scores) > 1 else 0 * scores[0]
            ax.plot(sizes, mean, "o-", markersize=3, label=strategy)
            ax.fill_between(sizes, mean - sd, mean + sd, alpha=0.15)
        full = data["full_pool"]["macro_f1"]
        ax.axhline(full, color="black", linestyle="--", linewidth=1, label=f"full pool ({data['pool_size']})")
        ax.axhline(full - 0.01, color="grey", linestyle=":", linewidth=1, label="full pool − 1 pt")
        for fraction in REPORT_FRACTIONS:
            ax.axvline(fraction * data["pool_size"], color="grey", linewidth=0.5)
        ax.set(title=name, xlabel="labeled examples", ylabel="val macro-F1")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    n_seeds = len(result["settings"]["seeds"])
    fig.suptitle(f"active learning on frozen features: mean ± sd over {n_seeds} seeds")
    return save_figure(fig, path)


def write_outputs(result: dict, out_dir: Path) -> list[Path]:
    """`al-sim.json`, `al-sim.md` and `al-sim.png` in `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "al-sim.json"
    json_path.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    md_path = out_dir / "al-sim.md"
    md_path.write_text(markdown(result))
    return [json_path, md_path, curves_png(result, out_dir / "al-sim.png")]
