"""The study: every strategy x seed on every data set, then the label-efficiency summary."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
from tqdm import tqdm

from streamproc_models.active_learning.settings import SimSettings
from streamproc_models.active_learning.simulate import full_pool_score, run_curve

REPORT_FRACTIONS = (0.10, 0.25)
WITHIN = 0.01  # "reaches the full pool" = mean macro-F1 within one point of the full-pool score


def run_study(
    sets: Sequence[Any],
    strategies: list[str],
    seeds: list[int],
    settings: SimSettings,
    curve: Callable[[Any, str, int, SimSettings], dict] = run_curve,
    full_pool: Callable[[Any, SimSettings], dict[str, float]] = full_pool_score,
) -> dict:
    """All curves and their summary, as one JSON-able dict.

    `sets` are `PreparedSet`s (frozen features) or anything with the same `name`, `labels`, `pool_size` and
    `val_y`, given with its own `curve` and `full_pool` functions (the fine-tuning variant).
    """
    started = time.monotonic()
    result: dict = {"settings": {**asdict(settings), "strategies": strategies, "seeds": seeds}, "datasets": {}}
    bar = tqdm(total=len(sets) * len(strategies) * len(seeds), desc="al-sim", unit="stream")
    for data in sets:
        full = full_pool(data, settings)
        curves: dict[str, list[dict]] = {}
        for strategy in strategies:
            for seed in seeds:
                bar.set_postfix_str(f"{data.name} {strategy} seed {seed}")
                curves.setdefault(strategy, []).append(curve(data, strategy, seed, settings))
                bar.update()
        sizes = curves[strategies[0]][0]["sizes"]
        result["datasets"][data.name] = {
            "labels": data.labels,
            "pool_size": data.pool_size,
            "val_size": len(data.val_y),
            "full_pool": full,
            "sizes": sizes,
            "fractions": [size / data.pool_size for size in sizes],
            "curves": curves,
            "summary": summarise(curves, sizes, data.pool_size, full["macro_f1"]),
        }
    bar.close()
    result["wall_seconds"] = round(time.monotonic() - started, 1)
    return result


def summarise(curves: dict[str, list[dict]], sizes: list[int], pool_size: int, full_f1: float) -> dict:
    """Per strategy: mean and sd at the report fractions, gain over random, labels to reach the full pool."""
    scores = {strategy: np.array([run["macro_f1"] for run in runs]) for strategy, runs in curves.items()}
    accuracy = {strategy: np.array([run["accuracy"] for run in runs]) for strategy, runs in curves.items()}
    columns = {fraction: _nearest(sizes, fraction * pool_size) for fraction in REPORT_FRACTIONS}
    summary: dict = {}
    for strategy, f1 in scores.items():
        row: dict = {}
        for fraction, column in columns.items():
            key = f"{fraction:.2f}"
            row[key] = {
                "labels": sizes[column],
                "macro_f1_mean": float(f1[:, column].mean()),
                "macro_f1_sd": float(f1[:, column].std(ddof=1)) if len(f1) > 1 else 0.0,
                "accuracy_mean": float(accuracy[strategy][:, column].mean()),
                "share_of_full_pool": float(f1[:, column].mean() / full_f1),
            }
            if "random" in scores and strategy != "random":
                row[key]["vs_random"] = _paired(f1[:, column], scores["random"][:, column])
        row["area_mean"] = float(f1.mean())
        reached = np.flatnonzero(f1.mean(axis=0) >= full_f1 - WITHIN)
        row["reaches_full_pool_at"] = (
            {"labels": sizes[reached[0]], "fraction": sizes[reached[0]] / pool_size} if len(reached) else None
        )
        summary[strategy] = row
    if "predicted_loss" in scores and "margin" in scores:
        pl, margin = scores["predicted_loss"], scores["margin"]
        summary["predicted_loss_vs_margin"] = {
            **{f"{fraction:.2f}": _paired(pl[:, c], margin[:, c]) for fraction, c in columns.items()},
            "whole_curve": _paired(pl.mean(axis=1), margin.mean(axis=1)),
        }
    return summary


def _paired(a: np.ndarray, b: np.ndarray) -> dict:
    """Per-seed differences a - b: mean, sd, seeds where a wins; beyond the spread = |mean| > sd."""
    diff = a - b
    sd = float(diff.std(ddof=1)) if len(diff) > 1 else 0.0
    mean = float(diff.mean())
    return {"mean": mean, "sd": sd, "wins": int((diff > 0).sum()), "n": len(diff), "beyond_spread": abs(mean) > sd}


def _nearest(sizes: list[int], target: float) -> int:
    return int(np.argmin([abs(size - target) for size in sizes]))
