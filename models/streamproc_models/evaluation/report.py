"""Evaluation results as rich tables."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


def print_evaluation(result: dict, console: Console) -> None:
    """Summary line, per-class report and confusion matrix."""
    console.print(
        f"[bold]{result['task']}[/bold] {result['version']} on {result['data']} ({result['n']} examples): "
        f"accuracy [bold]{result['accuracy']:.4f}[/bold], macro-F1 [bold]{result['macro_f1']:.4f}[/bold]",
        soft_wrap=True,
    )
    if "loss_head_spearman" in result:
        console.print(f"loss head: Spearman(predicted loss, actual loss) = {result['loss_head_spearman']:.3f}")
    report = Table("label", "precision", "recall", "F1", "support", title="per class")
    for label, row in result["per_class"].items():
        report.add_row(label, *(f"{row[key]:.3f}" for key in ("precision", "recall", "f1")), str(row["support"]))
    console.print(report)
    labels = result["confusion"]["labels"]
    confusion = Table("true \\ predicted", *labels, title="confusion matrix")
    for label, row in zip(labels, result["confusion"]["matrix"], strict=True):
        confusion.add_row(label, *(str(count) for count in row))
    console.print(confusion)
