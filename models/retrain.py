"""Retrain from the reviewers' labels, with an evaluation gate before the new version may serve.

1. Reviewed labels (from the review queue in Redis) are split by a hash of the article id: a stable
   `holdout_fraction` is never trained on and scores both models; the rest joins the base training data.
2. The candidate is built by the fast path (`models.fast_heads.train_fast_model`: new heads on the serving
   model's own frozen encoder) or, with `fine_tune`, by the default model's fine-tune recipe
   (`models.defaults.fine_tune_and_refit`: the base encoder fine-tuned, then the fused heads refitted on
   it). Each reviewed example counts `REVIEW_WEIGHT` times (they are few, and exactly where the model was
   unsure).
3. Both models are scored on each task's validation set and on the held-out reviewed labels.
4. Gate (`GATE_RULE`): promote only if, for every task, the candidate's validation macro-F1 is at least
   the serving model's minus `VAL_TOLERANCE`, and its accuracy on held-out reviewed labels (tasks that have
   some) is at least the serving model's. The rule and both models' numbers go into the candidate's model
   card; `dry_run` stops before promoting.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from streamproc.config import Settings
from streamproc.errors import UserError
from streamproc.inference.predictor import Predictor, load_model
from streamproc.ingest.model_text import model_text
from streamproc.review.desk import ReviewDesk
from streamproc.tasks import TASKS
from streamproc_models.data import LabeledSet, concat, read_tsv
from streamproc_models.default_sets import TrainingSets, default_training_sets
from streamproc_models.evaluation.metrics import classification_metrics
from streamproc_models.fast_heads import FastSettings, train_fast_model
from streamproc_models.registry import promote, serving_folder

VAL_TOLERANCE = 0.01
GATE_RULE = (
    f"promote only if, for every task, candidate validation macro-F1 >= serving macro-F1 - {VAL_TOLERANCE} "
    "and candidate accuracy on held-out reviewed labels >= serving accuracy (tasks with held-out reviews)"
)
RETRAINED_NAME = "reviewed"
REVIEWED_PART = "reviewed labels"  # the reviewed rows among the parts of a task's training data
# Reviewed labels are few and sit exactly where the model is unsure: each counts this many times in training.
REVIEW_WEIGHT = 3
HOLDOUT_FRACTION = 0.3


@dataclass
class ReviewedLabels:
    """Reviewed examples per task, split into (train, held out) by a hash of the article id."""

    train: dict[str, LabeledSet] = field(default_factory=dict)
    holdout: dict[str, LabeledSet] = field(default_factory=dict)


@dataclass
class GateResult:
    """What the gate saw and decided."""

    rule: str
    serving: dict[str, dict[str, float | None]]
    candidate: dict[str, dict[str, float | None]]
    checks: list[str]
    passed: bool
    candidate_folder: Path
    serving_folder: Path
    promoted: bool = False
    reviewed_counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def as_card(self) -> dict[str, Any]:
        """The gate section of the model card."""
        return {
            "rule": self.rule,
            "serving_model": str(self.serving_folder),
            "serving": self.serving,
            "candidate": self.candidate,
            "checks": self.checks,
            "decision": "promoted" if self.promoted else ("passed (dry run)" if self.passed else "refused"),
            "reviewed_labels": self.reviewed_counts,
        }


def in_holdout(doc_id: str, fraction: float) -> bool:
    """A stable choice per article id: the same articles stay held out across retrains."""
    return int(hashlib.sha256(doc_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < fraction


def reviewed_labels(desk: ReviewDesk, holdout_fraction: float) -> ReviewedLabels:
    """Every labeled (not rejected) article's text and labels, split per task."""
    parts: dict[str, dict[str, tuple[list[str], list[str]]]] = {"train": {}, "holdout": {}}
    for doc_id, record in sorted(desk.decisions().items()):
        summary = desk.item(doc_id) or {}
        text = model_text(summary.get("title") or "", summary.get("body") or "")
        if record.get("decision") != "label" or not text:
            continue
        side = "holdout" if in_holdout(doc_id, holdout_fraction) else "train"
        for task, label in (record.get("labels") or {}).items():
            texts, labels = parts[side].setdefault(task, ([], []))
            texts.append(text)
            labels.append(label)
    return ReviewedLabels(
        {task: LabeledSet(*tl) for task, tl in parts["train"].items()},
        {task: LabeledSet(*tl) for task, tl in parts["holdout"].items()},
    )


def base_sets(settings: Settings, base_data: Path | None) -> TrainingSets:
    """(train, val) per task: `<base_data>/<task>/{train,val}.tsv`, else the default model's training sets.

    The default sets come with the data sets each split is made of, so the candidate's heads weigh them as
    the default recipe does; the rows of a `base_data` folder all weigh the same.
    """
    if base_data is None:
        return default_training_sets(settings.data_dir)
    sets: dict[str, tuple[LabeledSet, LabeledSet]] = {}
    for task in TASKS:
        folder = Path(base_data) / task
        if not (folder / "train.tsv").is_file():
            raise UserError(f"no {task}/train.tsv in {base_data}")
        sets[task] = (read_tsv(folder / "train.tsv"), read_tsv(folder / "val.tsv"))
    return TrainingSets(sets, files={}, sources=[], seed_only=False)


def score(folder: Path | Predictor, data: LabeledSet, task: str, device: str = "auto") -> dict[str, float]:
    """Accuracy and macro-F1 of a model (folder or loaded) on `data` for `task` (labels it lacks count as wrong)."""
    predictor = load_model(folder, device=device) if isinstance(folder, Path) else folder
    probabilities = predictor.predict(data.texts).probabilities[task]
    names = predictor.tasks[task]
    predicted = [names[i] for i in probabilities.argmax(1)]
    labels = sorted(set(data.labels) | set(predicted))
    metrics = classification_metrics(data.labels, predicted, labels)
    return {"n": len(data), "accuracy": float(metrics["accuracy"]), "macro_f1": float(metrics["macro_f1"])}


def evaluate_both(
    serving: Path,
    candidate: Path,
    sets: dict[str, tuple[LabeledSet, LabeledSet]],
    holdout: dict[str, LabeledSet],
    device: str,
) -> tuple[dict[str, dict[str, float | None]], dict[str, dict[str, float | None]]]:
    """Per task: validation macro-F1 and accuracy, held-out reviewed accuracy, for both models."""
    results: dict[str, dict[str, dict[str, float | None]]] = {"serving": {}, "candidate": {}}
    for name, folder in (("serving", serving), ("candidate", candidate)):
        predictor = load_model(folder, device=device)
        for task, (_, val) in sets.items():
            val_scores = score(predictor, val, task)
            row: dict[str, float | None] = {
                "val_macro_f1": val_scores["macro_f1"],
                "val_accuracy": val_scores["accuracy"],
                "reviewed_holdout_accuracy": None,
                "reviewed_holdout_n": 0,
            }
            if task in holdout and len(holdout[task]):
                held = score(predictor, holdout[task], task)
                row["reviewed_holdout_accuracy"] = held["accuracy"]
                row["reviewed_holdout_n"] = held["n"]
            results[name][task] = row
    return results["serving"], results["candidate"]


def apply_gate(
    serving: dict[str, dict[str, float | None]], candidate: dict[str, dict[str, float | None]]
) -> tuple[bool, list[str]]:
    """The gate's checks, one readable line each, and whether all passed."""
    checks, passed = [], True
    for task in serving:
        old, new = serving[task], candidate[task]
        ok = float(new["val_macro_f1"] or 0) >= float(old["val_macro_f1"] or 0) - VAL_TOLERANCE
        passed &= ok
        checks.append(
            f"{task} validation macro-F1 {new['val_macro_f1']:.4f} vs serving {old['val_macro_f1']:.4f} "
            f"(tolerance {VAL_TOLERANCE}): {'ok' if ok else 'WORSE'}"
        )
        if old["reviewed_holdout_accuracy"] is not None:
            ok = float(new["reviewed_holdout_accuracy"] or 0) >= float(old["reviewed_holdout_accuracy"])
            passed &= ok
            checks.append(
                f"{task} held-out reviewed accuracy {new['reviewed_holdout_accuracy']:.4f} vs serving "
                f"{old['reviewed_holdout_accuracy']:.4f} (n={old['reviewed_holdout_n']}): {'ok' if ok else 'WORSE'}"
            )
    return passed, checks


def retrain(
    settings: Settings,
    desk: ReviewDesk,
    base_data: Path | None = None,
    holdout_fraction: float = HOLDOUT_FRACTION,
    fine_tune: bool = False,
    dry_run: bool = False,
    say: Callable[[str], None] = print,
    review_weight: int = REVIEW_WEIGHT,
) -> GateResult:
    """Build a candidate from base data + reviewed labels, gate it, promote it when it passes (unless dry run)."""
    serving = serving_folder(settings)
    reviewed = reviewed_labels(desk, holdout_fraction)
    counts: dict[str, dict[str, int]] = {
        task: {"train": len(reviewed.train.get(task, [])), "holdout": len(reviewed.holdout.get(task, []))}
        for task in TASKS
    }
    if not any(c["train"] for c in counts.values()):
        raise UserError("no reviewed labels to learn from yet (label some with `streamproc review` first)")
    say(f"reviewed labels (train / held out): {json.dumps(counts)}")
    sources = base_sets(settings, base_data)
    sets = sources.sets
    training = {
        task: (concat([train, *[reviewed.train[task]] * review_weight]) if task in reviewed.train else train, val)
        for task, (train, val) in sets.items()
    }
    # The reviewed rows come last and weigh 1 each (they are already repeated `review_weight` times).
    train_parts = {
        task: [*parts, (REVIEWED_PART, len(reviewed.train[task]) * review_weight)] if task in reviewed.train else parts
        for task, parts in sources.train_parts.items()
    }
    say(f"serving model: {serving}")
    fast = FastSettings(per_row_parts=(REVIEWED_PART,))
    if fine_tune:
        from streamproc_models.defaults import fine_tune_and_refit
        from streamproc_models.encoder import ensure_encoder

        base = ensure_encoder(settings.model_store, progress=True)
        data = replace(sources, sets=training, train_parts=train_parts)
        candidate = fine_tune_and_refit(data, base, settings.model_store, RETRAINED_NAME, settings.device, fast, say)
    else:
        candidate = train_fast_model(
            training,
            serving / "encoder",
            settings.model_store,
            RETRAINED_NAME,
            fast,
            device=settings.device,
            val_parts=sources.val_parts,
            train_parts=train_parts,
        )
    say(f"candidate model: {candidate}")
    old, new = evaluate_both(serving, candidate, sets, reviewed.holdout, settings.device)
    passed, checks = apply_gate(old, new)
    result = GateResult(GATE_RULE, old, new, checks, passed, candidate, serving, reviewed_counts=counts)
    if passed and not dry_run:
        promote(settings, candidate, reason="retrain: gate passed")
        result.promoted = True
    _record_gate(candidate, result)
    return result


def _record_gate(folder: Path, result: GateResult) -> None:
    card_path = folder / "model_card.json"
    card = json.loads(card_path.read_text())
    card["gate"] = result.as_card()
    card_path.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    lines = ["", "## Evaluation gate", "", f"Rule: {result.rule}.", ""]
    lines += [f"- {check}" for check in result.checks]
    lines += ["", f"Decision: **{card['gate']['decision']}** (serving model was `{result.serving_folder.name}`).", ""]
    with (folder / "MODEL_CARD.md").open("a", encoding="utf-8") as handle:
        handle.write("\n".join(lines))
