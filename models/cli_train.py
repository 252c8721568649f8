"""`streamproc train`, `streamproc evaluate` and `streamproc bench heads`."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from streamproc.config import Settings, load_settings
from streamproc.errors import UserError
from streamproc_models.training.hyperparameters import Hyperparameters

if TYPE_CHECKING:
    from streamproc_models.data import LabeledSet

console = Console()
VAL_FRACTION_OF_FILE = 0.1
HP = Hyperparameters()  # the options' defaults are the dataclass's


class TrainTask(StrEnum):
    """What `streamproc train` trains."""

    topic = "topic"
    sentiment = "sentiment"
    multitask = "multitask"


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add `train` and `evaluate` to `app` and `heads` to `bench_app`."""
    app.command("train")(train)
    app.command("evaluate")(evaluate)
    bench_app.command("heads")(bench_heads)


def train(
    task: Annotated[TrainTask, typer.Argument(help="topic, sentiment, or multitask (both heads, one encoder)")],
    data: Annotated[
        list[Path] | None,
        typer.Option(help="a data folder (train.tsv + val.tsv) or a TSV file; repeat to combine; topic/sentiment"),
    ] = None,
    topic_data: Annotated[list[Path] | None, typer.Option(help="multitask: the topic data (repeatable)")] = None,
    sentiment_data: Annotated[
        list[Path] | None, typer.Option(help="multitask: the sentiment data (repeatable)")
    ] = None,
    label_map: Annotated[str | None, typer.Option(help="rename data labels: DATA=MODEL[,...]")] = None,
    base: Annotated[Path | None, typer.Option(help="base encoder folder; default: the rebuilt e5")] = None,
    out: Annotated[Path | None, typer.Option(help="where versioned folders go; default: the model store")] = None,
    fast: Annotated[bool, typer.Option(help="logistic-regression heads on frozen features (seconds)")] = False,
    lr: Annotated[float, typer.Option(help="peak learning rate")] = HP.lr,
    epochs: Annotated[int, typer.Option(help="maximum epochs")] = HP.epochs,
    batch_size: Annotated[int, typer.Option(help="examples per step")] = HP.batch_size,
    max_length: Annotated[int, typer.Option(help="tokens per example")] = HP.max_length,
    seed: Annotated[int, typer.Option(help="random seed")] = HP.seed,
    freeze_embeddings: Annotated[bool, typer.Option(help="keep the word embeddings fixed")] = HP.freeze_embeddings,
    patience: Annotated[int, typer.Option(help="epochs without val macro-F1 gain before stopping")] = HP.patience,
    max_train: Annotated[
        int | None, typer.Option(help="use a seeded sample of N training examples per task")
    ] = HP.max_train_examples,
    loss_head: Annotated[
        bool, typer.Option(help="add a Learning-Loss head (predicted loss = uncertainty)")
    ] = HP.loss_head,
    threads: Annotated[int | None, typer.Option(help="torch CPU threads")] = HP.threads,
) -> None:
    """Train a classifier from the base encoder; writes a versioned folder with card, curves and confusion matrix.

    Without --data the default recipe's sets are used (see `models/default_sets.py`).
    """
    from streamproc_models.evaluation.evaluate import parse_label_map

    settings = load_settings()
    mapping = parse_label_map(label_map)
    sources = {
        TrainTask.topic: {"topic": data},
        TrainTask.sentiment: {"sentiment": data},
        TrainTask.multitask: {"topic": topic_data, "sentiment": sentiment_data},
    }[task]
    defaults = _default_sets(settings) if not all(sources.values()) else {}
    sets = {name: _load_sets(paths, mapping, seed) if paths else defaults[name] for name, paths in sources.items()}
    base_dir = base or _default_base(settings)
    out_root = out or settings.model_store
    if fast:
        from streamproc_models.fast_heads import FastSettings, train_fast_model

        folder = train_fast_model(
            sets, base_dir, out_root, f"{task.value}-fast", FastSettings(max_length=max_length, seed=seed)
        )
    else:
        from streamproc_models.training.train import train_model

        hp = Hyperparameters(
            lr=lr,
            epochs=epochs,
            batch_size=batch_size,
            max_length=max_length,
            seed=seed,
            freeze_embeddings=freeze_embeddings,
            patience=patience,
            max_train_examples=max_train,
            threads=threads,
            loss_head=loss_head,
        )
        folder = train_model(sets, base_dir, out_root, hp, name=task.value, device=settings.device)
    _print_card(folder)


def evaluate(
    model_dir: Annotated[Path, typer.Argument(help="a model folder (streamproc multi-head or Hugging Face)")],
    data: Annotated[Path, typer.Option(help="a labeled TSV file (text or title+body, and label)")],
    task: Annotated[str | None, typer.Option(help="which head, for a multi-head model")] = None,
    label_map: Annotated[str | None, typer.Option(help="rename data labels: DATA=MODEL[,...]")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="where the JSON goes (PNG beside it)")] = None,
) -> None:
    """Accuracy, macro-F1, per-class report and confusion matrix on a labeled TSV; saved as JSON and PNG."""
    from streamproc_models.evaluation import default_output, parse_label_map, write_evaluation
    from streamproc_models.evaluation import evaluate as run_evaluation
    from streamproc_models.evaluation.report import print_evaluation

    settings = load_settings()
    result = run_evaluation(
        model_dir,
        data,
        task=task,
        label_map=parse_label_map(label_map),
        max_tokens=settings.max_tokens,
        device=settings.device,
    )
    print_evaluation(result, console)
    written = write_evaluation(result, json_out or default_output(model_dir, data, result["task"]))
    console.print(f"written: {written[0]} and {written[1]}", soft_wrap=True, markup=False)


def bench_heads(
    multitask: Annotated[Path | None, typer.Option(help="two-head model; default: newest trained multitask")] = None,
    topic: Annotated[Path | None, typer.Option(help="topic model; default: newest trained topic")] = None,
    sentiment: Annotated[Path | None, typer.Option(help="sentiment model; default: newest trained")] = None,
    texts: Annotated[int, typer.Option(help="how many validation headlines to classify per pass")] = 512,
    repeats: Annotated[int, typer.Option(help="timed passes (median reported)")] = 3,
    json_out: Annotated[Path, typer.Option("--json", help="result file (PNG beside it)")] = Path("bench-heads.json"),
) -> None:
    """Speed of one encoder with two heads vs two separate models on the same texts, and their val quality."""
    from streamproc_models.data import read_tsv
    from streamproc_models.default_sets import DEFAULT_SOURCES
    from streamproc_models.training.bench import bench_heads as run_bench
    from streamproc_models.training.bench import latest_model, write_bench

    settings = load_settings()
    store = settings.model_store
    sample_file = Path(settings.data_dir) / DEFAULT_SOURCES[0].folder / "val.tsv"
    sample = read_tsv(sample_file).texts[:texts]
    result = run_bench(
        multitask or latest_model(store, "multitask"),
        topic or latest_model(store, "topic"),
        sentiment or latest_model(store, "sentiment"),
        sample,
        repeats=repeats,
        device=settings.device,
        max_tokens=settings.max_tokens,
    )
    speed = result["throughput"]
    for name, row in speed.items():
        console.print(f"{name:>10}: {row['articles_per_second']:8.1f} articles/s  ({', '.join(row['models'])})")
    console.print(f"one encoder with two heads is {result['speedup']:.2f}x the speed of two models")
    written = write_bench(result, json_out)
    console.print(f"written: {written[0]} and {written[1]}", soft_wrap=True, markup=False)


def _default_sets(settings: Settings) -> dict[str, tuple[LabeledSet, LabeledSet]]:
    """Per task (train, val) of the default recipe's sources, read once."""
    from streamproc_models.default_sets import default_training_sets, shared_data_present

    if not shared_data_present(settings.data_dir):
        raise UserError(f"no --data given and no shared data in {settings.data_dir}: pass --data DIR_OR_TSV")
    return default_training_sets(settings.data_dir).sets


def _load_sets(paths: list[Path], mapping: dict[str, str], seed: int) -> tuple[LabeledSet, LabeledSet]:
    """(train, val) from the given folders (train.tsv + val.tsv) or files (a stratified tenth held out)."""
    from streamproc_models.data import concat, read_tsv, relabel, split_off

    trains, vals = [], []
    for path in paths:
        if path.is_dir():
            trains.append(read_tsv(path / "train.tsv"))
            vals.append(read_tsv(path / "val.tsv"))
        else:
            train, val = split_off(read_tsv(path), VAL_FRACTION_OF_FILE, seed)
            trains.append(train)
            vals.append(val)
    return relabel(concat(trains), mapping), relabel(concat(vals), mapping)


def _default_base(settings: Settings) -> Path:
    from streamproc_models.encoder import ensure_encoder

    return ensure_encoder(settings.model_store)


def _print_card(folder: Path) -> None:
    import json

    card = json.loads((folder / "model_card.json").read_text())
    for task, metrics in card["metrics"].items():
        console.print(f"{task}: val accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f}")
    console.print("card, curves and confusion matrix: MODEL_CARD.md, training_curves.png, confusion_matrix.png")
    console.print(f"model folder: {folder}", soft_wrap=True, markup=False)
