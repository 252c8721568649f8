"""Model cards: what a trained model was made from and how well it did, as JSON and Markdown."""

from __future__ import annotations

import json
import platform
from collections import Counter
from datetime import datetime
from importlib import metadata
from pathlib import Path

from streamproc_models.data import LabeledSet
from streamproc_models.encoder.sources import sha256_of

PACKAGES = ("torch", "transformers", "tokenizers", "safetensors", "numpy", "scikit-learn", "streamproc")


def package_versions() -> dict[str, str]:
    """Python and the versions of the packages that shape a model."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def versioned_name(name: str) -> str:
    """`<name>-<YYYYmmdd-HHMMSS>`: a model version that sorts by time."""
    return f"{name}-{datetime.now():%Y%m%d-%H%M%S}"


def free_folder(folder: Path) -> Path:
    """`folder`, or `folder-2`, `folder-3`, ... : the first that does not exist yet."""
    candidate, suffix = folder, 1
    while candidate.exists():
        suffix += 1
        candidate = folder.with_name(f"{folder.name}-{suffix}")
    return candidate


def describe_data(data: LabeledSet, source: Path | None, rows_in_source: int | None = None) -> dict:
    """Size, label counts and origin of a data split."""
    described: dict = {"rows": len(data), "label_counts": dict(sorted(Counter(data.labels).items()))}
    if source is not None:
        described.update({"file": str(source), "sha256": sha256_of(source)})
    if rows_in_source is not None and rows_in_source != len(data):
        described["rows_in_source"] = rows_in_source
    return described


def write_card(directory: Path, card: dict) -> None:
    """Write `model_card.json` and `MODEL_CARD.md`."""
    (directory / "model_card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    (directory / "MODEL_CARD.md").write_text(render_markdown(card))


def _score(value: float | None) -> str:
    return "- (no validation rows)" if value is None else f"{value:.4f}"


def render_markdown(card: dict) -> str:
    """A human-readable card."""
    lines = [f"# {card['version']}", "", card.get("summary", ""), ""]
    lines += ["## Results (validation, kept epoch)", "", "| task | accuracy | macro-F1 |", "|---|---|---|"]
    for task, metrics in card["metrics"].items():
        lines.append(f"| {task} | {_score(metrics['accuracy'])} | {_score(metrics['macro_f1'])} |")
    if card.get("per_data_set"):
        lines += [
            "",
            "## Per validation data set",
            "",
            "| task | data set | n | accuracy | macro-F1 |",
            "|---|---|---|---|---|",
        ]
        for task, parts in card["per_data_set"].items():
            for part, m in parts.items():
                lines.append(f"| {task} | {part} | {m['n']} | {m['accuracy']:.4f} | {m['macro_f1']:.4f} |")
    for task, metrics in card["metrics"].items():
        lines += [
            "",
            f"### {task} per class",
            "",
            "| label | precision | recall | F1 | support |",
            "|---|---|---|---|---|",
        ]
        for label, row in metrics["per_class"].items():
            scores = " | ".join(f"{row[key]:.3f}" for key in ("precision", "recall", "f1"))
            lines.append(f"| {label} | {scores} | {row['support']} |")
    if card["epochs"]:
        lines += [
            "",
            "## Epochs",
            "",
            "| epoch | train loss | val macro-F1 (mean) | seconds |",
            "|---|---|---|---|",
        ]
    for epoch in card["epochs"]:
        loss, score = epoch["train_loss"], epoch["val_macro_f1_mean"]
        lines.append(f"| {epoch['epoch']} | {loss:.4f} | {score:.4f} | {epoch['seconds']} |")
    lines += ["", "## Labels", ""]
    lines += [f"- {task}: {', '.join(labels)}" for task, labels in card["tasks"].items()]
    lines += ["", "## Data", ""]
    for task, splits in card["data"].items():
        for split, info in splits.items():
            origin = info.get("file", "in memory")
            lines.append(f"- {task} / {split}: {info['rows']} rows from `{origin}`; labels {info['label_counts']}")
    lines += ["", "## Base model", "", "```json", json.dumps(card["base_model"], indent=2), "```"]
    lines += ["", "## Hyper-parameters", "", "```json", json.dumps(card["hyperparameters"], indent=2), "```"]
    lines += ["", "## Environment", ""]
    lines += [f"- wall time: {card['wall_seconds']:.0f} s on {card['device']}, {card['torch_threads']} threads"]
    lines += [f"- {name} {version}" for name, version in card["packages"].items()]
    return "\n".join(lines) + "\n"
