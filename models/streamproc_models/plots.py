"""PNG figures next to the JSON results: training curves, confusion matrices, benchmarks, AL curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure  # figures without pyplot: no global backend, nothing to close


def training_curves(epochs: list[dict], path: Path) -> Path:
    """Train and val losses, and val macro-F1 and accuracy per task, per epoch."""
    fig = Figure(figsize=(10, 4))
    left, right = fig.subplots(1, 2)
    x = [e["epoch"] for e in epochs]
    left.plot(x, [e["train_ce"] for e in epochs], "o-", label="train cross-entropy")
    if "train_ranking_loss" in epochs[0]:
        left.plot(x, [e["train_ranking_loss"] for e in epochs], "^:", label="train loss-ranking loss")
    for task in epochs[0]["val"]:
        left.plot(x, [e["val"][task]["loss"] for e in epochs], "s--", label=f"{task} val loss")
        right.plot(x, [e["val"][task]["macro_f1"] for e in epochs], "o-", label=f"{task} macro-F1")
        right.plot(x, [e["val"][task]["accuracy"] for e in epochs], "s--", label=f"{task} accuracy")
    left.set(title="loss", xlabel="epoch")
    right.set(title="validation", xlabel="epoch")
    for ax in (left, right):
        ax.set_xticks(x)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return save_figure(fig, path)


def confusion_matrices(matrices: dict[str, tuple[list[str], list[list[int]]]], path: Path) -> Path:
    """One heat map per task (rows: true label, columns: predicted), counts written in the cells."""
    fig = Figure(figsize=(5.2 * len(matrices), 4.6))
    axes = fig.subplots(1, len(matrices), squeeze=False)
    for ax, (task, (labels, matrix)) in zip(axes[0], matrices.items(), strict=True):
        counts = np.asarray(matrix)
        rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
        for (i, j), count in np.ndenumerate(counts):
            ax.text(j, i, str(count), ha="center", va="center", color="white" if rates[i, j] > 0.6 else "black")
        ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
        ax.set_yticks(range(len(labels)), labels)
        ax.set(title=task, xlabel="predicted", ylabel="true")
    return save_figure(fig, path)


def bench_bars(result: dict, path: Path) -> Path:
    """Throughput of the multi-task model vs one model per task, and macro-F1 per task of each."""
    fig = Figure(figsize=(10, 4))
    left, right = fig.subplots(1, 2)
    speed = result["throughput"]
    names = list(speed)
    bars = left.bar(names, [speed[n]["articles_per_second"] for n in names], color=["tab:blue", "tab:orange"])
    left.bar_label(bars, fmt="%.1f")
    left.set(title=f"throughput (batch {result['batch_size']}, {result['n_texts']} texts)", ylabel="articles/s")
    quality = result["quality"]
    tasks = list(quality)
    width = 0.38
    for k, (model, color) in enumerate((("shared_encoder", "tab:blue"), ("single_task", "tab:orange"))):
        values = [quality[t][model]["macro_f1"] or 0.0 for t in tasks]
        bars = right.bar(np.arange(len(tasks)) + (k - 0.5) * width, values, width, label=model, color=color)
        right.bar_label(bars, fmt="%.3f", fontsize=8)
    right.set_xticks(range(len(tasks)), tasks)
    right.set(title="validation macro-F1", ylim=(0, 1))
    right.legend()
    return save_figure(fig, path)


def save_figure(fig: Figure, path: Path) -> Path:
    """Write `fig` as a PNG at `path` (folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def ablation_bars(ablation: dict[str, dict[str, dict[str, dict]]], path: Path) -> Path:
    """Validation macro-F1 per data set, a bar per variant (task -> variant -> data set -> metrics)."""
    rows = [(task, part) for task, variants in ablation.items() for part in next(iter(variants.values()))]
    variants = sorted({v for variants in ablation.values() for v in variants})
    fig = Figure(figsize=(max(6.0, 1.6 * len(rows)), 4.2))
    ax = fig.subplots()
    width = 0.8 / len(variants)
    for k, variant in enumerate(variants):
        values = [ablation[task].get(variant, {}).get(part, {}).get("macro_f1", 0.0) for task, part in rows]
        bars = ax.bar(np.arange(len(rows)) + (k - (len(variants) - 1) / 2) * width, values, width, label=variant)
        ax.bar_label(bars, fmt="%.3f", fontsize=7)
    ax.set_xticks(range(len(rows)), [f"{task}\n{part}" for task, part in rows], fontsize=8)
    ax.set(title="validation macro-F1 by variant", ylim=(0, 1))
    ax.legend(fontsize=8)
    return save_figure(fig, path)
