"""`streamproc train`, `streamproc evaluate` and `streamproc bench heads`."""

from __future__ import annotations

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


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add `train` and `evaluate` to `app` and `heads` to `bench_app`."""
    app.command("train")(train)
    app.command("evaluate")(evaluate)
    bench_app.command("heads")(bench_heads)


def train(
    tasks: Annotated[
        list[str], typer.Argument(help="task(s) of the task file, or `all`; several tasks share one encoder")
    ],
    data: Annotated[
        list[str] | None,
        typer.Option(
            help="TASK=PATH: a data folder (train.tsv + val.tsv) or a TSV file; repeatable; PATH alone for one "
            "task; tasks without --data use the task file's data sets"
        ),
    ] = None,
    label_map: Annotated[str | None, typer.Option(help="rename data labels: DATA=MODEL[,...]")] = None,
    base: Annotated[
        Path | None,
        typer.Option(help="base encoder: any local Hugging Face encoder folder; default: the rebuilt e5"),
    ] = None,
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

    Without --data a task learns from the data sets its entry in the task file names.
    """
    from streamproc_models.encoder_choice import base_profile, describe_base
    from streamproc_models.evaluation.evaluate import parse_label_map

    settings = load_settings()
    mapping = parse_label_map(label_map)
    names = list(settings.tasks.names) if tasks == ["all"] else tasks
    for name in names:
        if name not in settings.tasks:
            raise UserError(f"unknown task {name!r}: the task file has {', '.join(settings.tasks.names)} (or all)")
    sources = _data_paths(names, data or [])
    defaults = _default_sets(settings) if not all(sources.values()) else {}
    sets = {name: _load_sets(paths, mapping, seed) if paths else defaults[name] for name, paths in sources.items()}
    base_dir = base or _default_base(settings)
    profile, source = base_profile(base_dir)
    console.print(describe_base(base_dir, profile, source), markup=False, soft_wrap=True)
    out_root = out or settings.model_store
    model_name = names[0] if len(names) == 1 else "multitask"
    if fast:
        from streamproc_models.fast_heads import FastSettings, train_fast_model

        folder = train_fast_model(
            sets,
            base_dir,
            out_root,
            f"{model_name}-fast",
            FastSettings(max_length=max_length, seed=seed),
            profile=profile,
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
        folder = train_model(sets, base_dir, out_root, hp, name=model_name, device=settings.device, profile=profile)
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
    multitask: Annotated[Path | None, typer.Option(help="multi-task model; default: newest trained multitask")] = None,
    single: Annotated[
        list[str] | None,
        typer.Option(help="TASK=FOLDER single-task model (repeatable); default: newest trained <task> per task"),
    ] = None,
    texts: Annotated[int, typer.Option(help="how many validation texts of the first data set to classify")] = 512,
    repeats: Annotated[int, typer.Option(help="timed passes (median reported)")] = 3,
    json_out: Annotated[Path, typer.Option("--json", help="result file (PNG beside it)")] = Path("bench-heads.json"),
) -> None:
    """Speed of one encoder with a head per task vs one model per task on the same texts, and their val quality."""
    from streamproc_models.data import read_tsv
    from streamproc_models.training.bench import bench_heads as run_bench
    from streamproc_models.training.bench import latest_model, write_bench

    settings = load_settings()
    store = settings.model_store
    given = {task: Path(path) for task, path in (_pair(item) for item in single or [])}
    shared_dir = multitask or latest_model(store, "multitask")
    singles = given or {name: latest_model(store, name) for name in _trained_tasks(shared_dir, settings)}
    first = next(source for task in settings.tasks for source in task.sources)
    sample_file = settings.tasks.source_dir(first, settings.data_dir) / "val.tsv"
    sample = read_tsv(sample_file).texts[:texts]
    result = run_bench(
        shared_dir, singles, sample, repeats=repeats, device=settings.device, max_tokens=settings.max_tokens
    )
    speed = result["throughput"]
    for name, row in speed.items():
        console.print(f"{name:>15}: {row['articles_per_second']:8.1f} articles/s  ({', '.join(row['models'])})")
    console.print(f"one encoder with a head per task is {result['speedup']:.2f}x the speed of separate models")
    written = write_bench(result, json_out)
    console.print(f"written: {written[0]} and {written[1]}", soft_wrap=True, markup=False)


def _pair(item: str) -> tuple[str, str]:
    task, sep, value = item.partition("=")
    if not sep or not task or not value:
        raise UserError(f"expected TASK=PATH, got {item!r}")
    return task, value


def _data_paths(tasks: list[str], given: list[str]) -> dict[str, list[Path]]:
    """Per task the --data paths given for it (`PATH` alone belongs to the only task)."""
    paths: dict[str, list[Path]] = {task: [] for task in tasks}
    for item in given:
        if "=" not in item:
            if len(tasks) != 1:
                raise UserError(f"--data {item}: with several tasks say which one, e.g. --data {tasks[0]}={item}")
            item = f"{tasks[0]}={item}"
        task, path = _pair(item)
        if task not in paths:
            raise UserError(f"--data {item}: {task!r} is not one of the tasks being trained ({', '.join(tasks)})")
        paths[task].append(Path(path))
    return paths


def _trained_tasks(model_dir: Path, settings: Settings) -> list[str]:
    """The task file's tasks the multi-task folder has a head for."""
    from streamproc.inference.multihead import read_manifest

    heads = read_manifest(model_dir)["tasks"]
    return [name for name in settings.tasks.names if name in heads]


def _default_sets(settings: Settings) -> dict[str, tuple[LabeledSet, LabeledSet]]:
    """Per task (train, val) of the data sets the task file names, read once."""
    from streamproc_models.default_sets import default_training_sets

    return default_training_sets(settings.data_dir, settings.tasks).sets


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
