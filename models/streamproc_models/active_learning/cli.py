"""`streamproc al-sim`: replay labeled sets as a stream and measure the active-learning strategies."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from streamproc.config import load_settings
from streamproc.errors import UserError
from streamproc_models.active_learning.data_sets import study_sets
from streamproc_models.active_learning.settings import DEFAULT_C, FULL_CHECKPOINTS, LOSS_TARGETS, SimSettings
from streamproc_models.active_learning.strategies import STRATEGIES

console = Console()
DEFAULT_SEEDS = 5
FULL_SEEDS = 10


def register(app: typer.Typer) -> None:
    """Add `al-sim` to the `streamproc` command."""
    app.command("al-sim")(al_sim)


def al_sim(
    data_set: Annotated[
        list[str] | None,
        typer.Option(help="repeatable; default: every data set the task file marks `study = true`"),
    ] = None,
    strategy: Annotated[
        list[str] | None, typer.Option(help=f"repeatable; default all: {', '.join(STRATEGIES)}")
    ] = None,
    seeds: Annotated[
        int | None, typer.Option(help=f"repetitions (default {DEFAULT_SEEDS}, --full {FULL_SEEDS})")
    ] = None,
    full: Annotated[
        bool, typer.Option(help=f"the full study: {FULL_SEEDS} seeds, rounds up to 50% of the pool")
    ] = False,
    loss_target: Annotated[str, typer.Option(help=f"what the loss module ranks: {' or '.join(LOSS_TARGETS)}")] = (
        "in_sample"
    ),
    c: Annotated[float, typer.Option(help="inverse regularisation of the retrained logistic regression")] = DEFAULT_C,
    fine_tune: Annotated[
        bool, typer.Option(help="retrain the whole encoder each round instead of heads on frozen features (slow)")
    ] = False,
    pool_limit: Annotated[int | None, typer.Option(help="use a seeded sample of N pool items")] = None,
    seed_size: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="labels to start from (stratified; default 1 % of the pool, at least 50): "
            "a small one studies a task learned from reviews starting at zero",
        ),
    ] = None,
    checkpoints: Annotated[
        str | None, typer.Option(help="shares of the pool to score at, e.g. 0.05,0.1,0.25,0.5,1 (default 2 %…30 %)")
    ] = None,
    base: Annotated[
        Path | None,
        typer.Option(help="any local Hugging Face encoder folder; default: the rebuilt e5 in the model store"),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="output folder; default: <model_store>/al-sim/<time>")] = None,
    threads: Annotated[int | None, typer.Option(help="torch CPU threads")] = None,
) -> None:
    """Simulate reviewers labeling what each strategy picks; write JSON, a Markdown table and a PNG."""
    import torch

    from streamproc_models.active_learning.report import markdown, write_outputs
    from streamproc_models.encoder import ensure_encoder
    from streamproc_models.encoder_choice import base_profile, describe_base

    settings = load_settings()
    sets = study_sets(settings.tasks, settings.data_dir)
    names = data_set or list(sets)
    strategies = strategy or list(STRATEGIES)
    unknown = sorted(set(strategies) - set(STRATEGIES))
    if unknown:
        raise UserError(f"unknown strategy {', '.join(unknown)}; choose from {', '.join(STRATEGIES)}")
    if loss_target not in LOSS_TARGETS:
        raise UserError(f"--loss-target must be one of {', '.join(LOSS_TARGETS)}")
    if threads:
        torch.set_num_threads(threads)
    base_dir = base or ensure_encoder(settings.model_store)
    profile, source = base_profile(base_dir)
    console.print(describe_base(base_dir, profile, source), markup=False, soft_wrap=True)
    sim = SimSettings(c=c, loss_target=loss_target)
    if full:
        sim = replace(sim, checkpoints=FULL_CHECKPOINTS)
    if seed_size is not None:
        sim = replace(sim, seed_fraction=0.0, seed_min=seed_size)
    if checkpoints is not None:
        try:
            shares = tuple(sorted(float(x) for x in checkpoints.split(",") if x.strip()))
        except ValueError:
            raise UserError(
                f"--checkpoints takes shares of the pool such as 0.05,0.1,0.5, got {checkpoints!r}"
            ) from None
        if not shares or not all(0 < share <= 1 for share in shares):
            raise UserError(f"--checkpoints takes shares in (0, 1], got {checkpoints!r}")
        sim = replace(sim, checkpoints=shares)
    seed_list = list(range(seeds or (FULL_SEEDS if full else DEFAULT_SEEDS)))
    out_dir = out or settings.model_store / "al-sim" / datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    if fine_tune:
        from streamproc_models.active_learning.fine_tune import run_fine_tune_study

        result = run_fine_tune_study(sets, names, strategies, seed_list, sim, base_dir, pool_limit, profile=profile)
    else:
        from streamproc_models.active_learning.study import run_study
        from streamproc_models.active_learning.study_sets import prepared_sets

        cache = settings.model_store / "al-features" / Path(base_dir).name
        prepared = prepared_sets(sets, names, base_dir, cache, pool_limit, profile)
        result = run_study(prepared, strategies, seed_list, sim)
    console.print(markdown(result), markup=False, soft_wrap=True)
    written = write_outputs(result, out_dir)
    console.print(f"written: {', '.join(str(p) for p in written)}", soft_wrap=True, markup=False)
