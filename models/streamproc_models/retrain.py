"""Retrain from the reviewers' labels, with an evaluation gate before the new version may serve.

1. Reviewed labels (from the review queue in Redis) are split by a hash of the article id: a stable
   `holdout_fraction` is never trained on and scores both models; the rest joins the base training data.
2. The candidate is built by the fast path (`models.fast_heads.train_fast_model`: new heads on the serving
   model's own frozen encoder, read as the serving folder's manifest says: pooling, input prefix, positions) or,
   with `fine_tune`, by the default model's fine-tune recipe (`models.defaults.fine_tune_and_refit`: the
   encoder the serving model was first built on fine-tuned, with the serving model's profile, then the fused
   heads refitted on it). `base` names another encoder folder for either (its profile chosen from it). Each
   reviewed example counts `REVIEW_WEIGHT` times (they are few, and exactly where the model was unsure).
   A task of the task file with no data set and no head yet (e.g. a new one) is learned from its reviews
   alone (cold start), once they hold at least two labels.
3. Both models are scored on each task's validation set and on the held-out reviewed labels, multi-head folders
   on the encoder vectors of the feature store (`CachedPredictor`: the fast path's candidate shares the serving
   model's encoder, whose vectors of the validation texts its build has just stored).
4. Gate (`GATE_RULE`): promote only if, for every task, the candidate's validation macro-F1 is at least
   the serving model's minus `VAL_TOLERANCE`, and its accuracy on held-out reviewed labels (tasks that have
   some) is at least the serving model's. A head the serving model does not have yet must beat the
   majority-class guess on at least `MIN_NEW_HEAD_HOLDOUT` held-out reviewed labels; a candidate that would
   drop a served head is refused. The rule and both models' numbers go into the candidate's model card;
   `dry_run` stops before promoting.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from streamproc.config import Settings
from streamproc.errors import UserError
from streamproc.inference.encoder_profile import EncoderProfile
from streamproc.inference.multihead import is_multihead_dir, read_manifest
from streamproc.inference.predictor import Predictor, load_model
from streamproc.review.desk import ReviewDesk
from streamproc.review.summary import model_input
from streamproc.tasks import TaskSet
from streamproc_models.data import LabeledSet, concat, read_tsv
from streamproc_models.default_sets import TrainingSets, default_training_sets, source_weights
from streamproc_models.encoder_choice import base_profile, describe_base, model_profile
from streamproc_models.evaluation.cached_predictor import scoring_model
from streamproc_models.evaluation.metrics import classification_metrics
from streamproc_models.fast_heads import FastSettings, train_fast_model
from streamproc_models.feature_store import STORE_FOLDER
from streamproc_models.registry import promote, serving_folder

VAL_TOLERANCE = 0.01
MIN_NEW_HEAD_HOLDOUT = 5
# The audit sample is a uniform random share of the stream: with at least MIN_AUDIT labels of a task, a candidate
# that is worse on it (paired, exact McNemar, one-sided) at AUDIT_ALPHA is refused, whatever the uncertain tail
# says. About 30 labels are the least for the test to find a gap of 10+ points on the discordant articles.
MIN_AUDIT = 30
AUDIT_ALPHA = 0.05
GATE_RULE = (
    f"promote only if, for every task, candidate validation macro-F1 >= serving macro-F1 - {VAL_TOLERANCE} "
    "and candidate accuracy on held-out reviewed labels >= serving accuracy (tasks with held-out reviews); "
    f"with >= {MIN_AUDIT} audit-sample labels, the candidate must not be worse on them (paired, exact McNemar, "
    f"one-sided p < {AUDIT_ALPHA} refuses; fewer labels are not used, and the card says so); "
    f"a head the serving model lacks must beat the majority-class guess on >= {MIN_NEW_HEAD_HOLDOUT} held-out "
    "reviewed labels; a served head may not be dropped"
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
    held_out_ids: set[str] = field(default_factory=set)  # the held-out and the audit sample's articles
    audit: dict[str, LabeledSet] = field(default_factory=dict)  # the audit sample's blind labels


@dataclass
class GateResult:
    """What the gate saw and decided."""

    rule: str
    serving: dict[str, dict[str, Any]]
    candidate: dict[str, dict[str, Any]]
    checks: list[str]
    passed: bool
    candidate_folder: Path
    serving_folder: Path
    promoted: bool = False
    reviewed_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    held_out_ids: set[str] = field(default_factory=set)
    evidence: list[str] = field(default_factory=list)  # what the decision rests on, per task

    def as_card(self) -> dict[str, Any]:
        """The gate section of the model card."""
        return {
            "rule": self.rule,
            "serving_model": str(self.serving_folder),
            "serving": self.serving,
            "candidate": self.candidate,
            "checks": self.checks,
            "decision": "promoted" if self.promoted else ("passed (dry run)" if self.passed else "refused"),
            "evidence": self.evidence,
            "reviewed_labels": self.reviewed_counts,
        }


def in_holdout(doc_id: str, fraction: float) -> bool:
    """A stable choice per article id: the same articles stay held out across retrains."""
    return int(hashlib.sha256(doc_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < fraction


def reviewed_labels(desk: ReviewDesk, holdout_fraction: float) -> ReviewedLabels:
    """Every labeled (not rejected) article's labels per task, with the text the serving model read of it.

    The audit sample's labels are never trained on: they are the gate's unbiased evidence (`audit`); of the
    others a stable `holdout_fraction` is held out."""
    parts: dict[str, dict[str, tuple[list[str], list[str]]]] = {"train": {}, "holdout": {}, "audit": {}}
    held_out: set[str] = set()
    for doc_id, record in sorted(desk.decisions().items()):
        text = model_input(desk.item(doc_id) or {})
        if record.get("decision") != "label" or not text:
            continue
        side = "audit" if record.get("audit") else "holdout" if in_holdout(doc_id, holdout_fraction) else "train"
        if side != "train":
            held_out.add(doc_id)
        for task, label in (record.get("labels") or {}).items():
            if task not in desk.tasks:
                continue  # a task since removed from the task file
            texts, labels = parts[side].setdefault(task, ([], []))
            texts.append(text)
            labels.append(label)
    return ReviewedLabels(
        {task: LabeledSet(*tl) for task, tl in parts["train"].items()},
        {task: LabeledSet(*tl) for task, tl in parts["holdout"].items()},
        held_out,
        {task: LabeledSet(*tl) for task, tl in parts["audit"].items()},
    )


def base_sets(settings: Settings, base_data: Path | None) -> TrainingSets:
    """(train, val) per task: `<base_data>/<task>/{train,val}.tsv`, else the data sets of the task file.

    The task file's sets come with the data sets each split is made of, so the candidate's heads weigh them as
    the default recipe does; the rows of a `base_data` folder all weigh the same. A task with neither has no
    base data (its reviews alone teach it).
    """
    if base_data is None:
        return default_training_sets(settings.data_dir, settings.tasks)
    sets: dict[str, tuple[LabeledSet, LabeledSet]] = {}
    for task in settings.tasks.names:
        folder = Path(base_data) / task
        if (folder / "train.tsv").is_file():
            sets[task] = (read_tsv(folder / "train.tsv"), read_tsv(folder / "val.tsv"))
    if not sets:
        raise UserError(f"no <task>/train.tsv in {base_data} (tasks: {', '.join(settings.tasks.names)})")
    return TrainingSets(sets, files={}, sources=[])


def score(model: Path | Predictor, data: LabeledSet, task: str, device: str = "auto") -> dict[str, float] | None:
    """Accuracy and macro-F1 of a model (folder or loaded) on `data` for `task` (labels it lacks count as wrong);
    None when the model has no head for `task` or there is no data."""
    predictor = load_model(model, device=device) if isinstance(model, Path) else model
    if task not in predictor.tasks or not len(data):
        return None
    probabilities = predictor.predict(data.texts).probabilities[task]
    names = predictor.tasks[task]
    predicted = [names[i] for i in probabilities.argmax(1)]
    labels = sorted(set(data.labels) | set(predicted))
    metrics = classification_metrics(data.labels, predicted, labels)
    return {"n": len(data), "accuracy": float(metrics["accuracy"]), "macro_f1": float(metrics["macro_f1"])}


Scores = dict[str, dict[str, Any]]


def evaluate_both(
    serving: Path,
    candidate: Path,
    sets: dict[str, tuple[LabeledSet, LabeledSet]],
    holdout: dict[str, LabeledSet],
    device: str,
    audit: dict[str, LabeledSet] | None = None,
    cache: Path | None = None,
) -> tuple[Scores, Scores]:
    """Per task: whether the model has a head, validation macro-F1 and accuracy, held-out reviewed accuracy, and
    accuracy on the audit sample's labels; the candidate's row also holds the paired comparison on the audit
    sample (the same articles: how many each model alone got right, McNemar's one-sided p of "worse").

    With `cache` (a feature store folder) multi-head folders are scored on stored encoder vectors
    (`CachedPredictor`): on the fast path both models read the same frozen encoder, whose vectors of the
    validation texts the candidate's build has just stored."""
    audit = audit or {}
    tasks = list(dict.fromkeys([*sets, *holdout, *audit]))
    results: dict[str, Scores] = {"serving": {}, "candidate": {}}
    right: dict[str, dict[str, list[bool] | None]] = {"serving": {}, "candidate": {}}
    for name, folder in (("serving", serving), ("candidate", candidate)):
        predictor = scoring_model(folder, cache, device)
        for task in tasks:
            val = score(predictor, sets[task][1], task) if task in sets else None
            held = score(predictor, holdout.get(task, LabeledSet([], [])), task)
            right[name][task] = hits(predictor, audit[task], task) if task in audit else None
            results[name][task] = {
                "head": task in predictor.tasks,
                "val_macro_f1": val and val["macro_f1"],
                "val_accuracy": val and val["accuracy"],
                "reviewed_holdout_accuracy": held and held["accuracy"],
                "reviewed_holdout_n": len(holdout.get(task, [])),
                "audit_accuracy": _share(right[name][task]),
                "audit_n": len(audit.get(task, [])),
            }
    for task in tasks:
        old, new = right["serving"][task], right["candidate"][task]
        if old is not None and new is not None:
            serving_only = sum(o and not n for o, n in zip(old, new, strict=True))
            candidate_only = sum(n and not o for o, n in zip(old, new, strict=True))
            results["candidate"][task].update(
                audit_serving_only=serving_only,
                audit_candidate_only=candidate_only,
                audit_p_worse=mcnemar_worse(serving_only, candidate_only),
            )
    return results["serving"], results["candidate"]


def hits(predictor: Predictor, data: LabeledSet, task: str) -> list[bool] | None:
    """Per row whether the model's label is the reviewer's (None without a head for `task`)."""
    if task not in predictor.tasks or not len(data):
        return None
    names = predictor.tasks[task]
    predicted = predictor.predict(data.texts).probabilities[task].argmax(1)
    return [names[i] == label for i, label in zip(predicted, data.labels, strict=True)]


def mcnemar_worse(serving_only: int, candidate_only: int) -> float:
    """Exact one-sided McNemar p-value that the candidate is worse: P(X >= serving_only), X ~ Bin(n, 1/2), where
    n = the articles exactly one of the two models got right."""
    n = serving_only + candidate_only
    if n == 0:
        return 1.0
    return sum(math.comb(n, k) for k in range(serving_only, n + 1)) / 2**n


def _share(flags: list[bool] | None) -> float | None:
    return None if not flags else sum(flags) / len(flags)


def majority_baseline(train: LabeledSet, held: LabeledSet) -> float | None:
    """Accuracy on `held` of always answering the most frequent training label (None without held-out rows)."""
    if not len(held) or not len(train):
        return None
    most = Counter(train.labels).most_common(1)[0][0]
    return sum(label == most for label in held.labels) / len(held)


def apply_gate(serving: Scores, candidate: Scores, baselines: dict[str, float | None]) -> tuple[bool, list[str]]:
    """The gate's checks, one readable line each, and whether all passed (`GATE_RULE`)."""
    checks, passed = [], True

    def check(ok: bool, line: str) -> None:
        nonlocal passed
        passed &= ok
        checks.append(f"{line}: {'ok' if ok else 'REFUSED'}")

    for task, old in serving.items():
        new = candidate[task]
        if old["head"] and not new["head"]:
            check(False, f"{task}: the candidate has no head for it (serving has one)")
        elif not old["head"] and new["head"]:
            n, accuracy, baseline = new["reviewed_holdout_n"], new["reviewed_holdout_accuracy"], baselines.get(task)
            if n < MIN_NEW_HEAD_HOLDOUT or accuracy is None or baseline is None:
                check(False, f"{task}: new head, {n} held-out reviewed labels (needs {MIN_NEW_HEAD_HOLDOUT})")
            else:
                check(
                    accuracy > baseline,
                    f"{task}: new head, held-out reviewed accuracy {accuracy:.4f} vs majority-class guess "
                    f"{baseline:.4f} (n={n})",
                )
        elif old["head"]:
            if old["val_macro_f1"] is not None and new["val_macro_f1"] is not None:
                check(
                    new["val_macro_f1"] >= old["val_macro_f1"] - VAL_TOLERANCE,
                    f"{task} validation macro-F1 {new['val_macro_f1']:.4f} vs serving {old['val_macro_f1']:.4f} "
                    f"(tolerance {VAL_TOLERANCE})",
                )
            if old["reviewed_holdout_accuracy"] is not None:
                check(
                    float(new["reviewed_holdout_accuracy"] or 0) >= old["reviewed_holdout_accuracy"],
                    f"{task} held-out reviewed accuracy {new['reviewed_holdout_accuracy']:.4f} vs serving "
                    f"{old['reviewed_holdout_accuracy']:.4f} (n={old['reviewed_holdout_n']})",
                )
            audit_n = old.get("audit_n", 0)
            if audit_n >= MIN_AUDIT and new.get("audit_p_worse") is not None:
                check(
                    new["audit_p_worse"] >= AUDIT_ALPHA,
                    f"{task} audit sample (blind, paired, n={audit_n}): accuracy {new['audit_accuracy']:.4f} vs "
                    f"serving {old['audit_accuracy']:.4f}, only the serving model right on "
                    f"{new['audit_serving_only']}, only the candidate on {new['audit_candidate_only']}, "
                    f"McNemar p(worse) {new['audit_p_worse']:.3f} (refused below {AUDIT_ALPHA})",
                )
            elif audit_n:
                checks.append(f"{task} audit sample: {audit_n} labels, fewer than {MIN_AUDIT}: not used")
    return passed, checks


def evidence(serving: Scores) -> list[str]:
    """What the gate decided on, per task, in words (so a decision resting on validation alone says so)."""
    lines = []
    for task, row in serving.items():
        kinds = []
        if row["val_macro_f1"] is not None:
            kinds.append("validation set")
        if row["reviewed_holdout_n"]:
            kinds.append(f"{row['reviewed_holdout_n']} held-out reviews of uncertain articles")
        audit_n = row.get("audit_n", 0)
        if audit_n >= MIN_AUDIT:
            kinds.append(f"{audit_n} audit-sample labels")
        elif audit_n:
            kinds.append(f"too few audit-sample labels ({audit_n} < {MIN_AUDIT}: not used)")
        else:
            kinds.append("no audit-sample labels")
        if row["reviewed_holdout_n"] == 0 and audit_n < MIN_AUDIT:
            kinds.append("no reviewed evidence: the decision rests on the validation set alone")
        lines.append(f"{task}: {'; '.join(kinds)}")
    return lines


def retrain(
    settings: Settings,
    desk: ReviewDesk,
    base_data: Path | None = None,
    holdout_fraction: float = HOLDOUT_FRACTION,
    fine_tune: bool = False,
    dry_run: bool = False,
    say: Callable[[str], object] = print,
    review_weight: int = REVIEW_WEIGHT,
    base: Path | None = None,
) -> GateResult:
    """Build a candidate from base data + reviewed labels, gate it, promote it when it passes (unless dry run).

    `base`: an encoder folder to build the candidate on instead of the serving model's (see the module docstring).
    """
    serving = serving_folder(settings)
    reviewed = reviewed_labels(desk, holdout_fraction)
    counts: dict[str, dict[str, int]] = {
        task: {
            "train": len(reviewed.train.get(task, [])),
            "holdout": len(reviewed.holdout.get(task, [])),
            "audit": len(reviewed.audit.get(task, [])),
        }
        for task in settings.tasks.reviewed
    }
    if not any(c["train"] for c in counts.values()):
        raise UserError(
            "no reviewed labels to learn from yet (label some with `streamproc review` first; the audit sample's "
            "labels are only ever used to judge a candidate)"
        )
    say(f"reviewed labels (train / held out / audit sample): {json.dumps(counts)}")
    sources = base_sets(settings, base_data)
    training, train_parts = _training_rows(sources, reviewed, review_weight, settings.tasks, say)
    say(f"serving model: {serving}")
    fast = FastSettings(
        per_row_parts=(REVIEWED_PART,),
        source_emphasis=source_weights(settings.tasks),
        feature_cache=settings.model_store / STORE_FOLDER,
        fixed_c=_chosen_c(serving),
        ablations=False,
        # the fast path refits heads on the serving model's own encoder: its heads are the solver's start
        warm_start=serving if base is None and not fine_tune else None,
    )
    encoder, profile = _candidate_encoder(settings, serving, base, fine_tune, say)
    if fine_tune:
        from streamproc_models.defaults import fine_tune_and_refit

        data = replace(sources, sets=training, train_parts=train_parts)
        candidate = fine_tune_and_refit(
            data, encoder, settings.model_store, RETRAINED_NAME, settings.device, fast, say, profile=profile
        )
    else:
        candidate = train_fast_model(
            training,
            encoder,
            settings.model_store,
            RETRAINED_NAME,
            fast,
            device=settings.device,
            val_parts=sources.val_parts,
            train_parts=train_parts,
            profile=profile,
        )
    say(f"candidate model: {candidate}")
    old, new = evaluate_both(
        serving, candidate, sources.sets, reviewed.holdout, settings.device, reviewed.audit, fast.feature_cache
    )
    baselines = {
        task: majority_baseline(training[task][0], held) for task, held in reviewed.holdout.items() if task in training
    }
    passed, checks = apply_gate(old, new, baselines)
    result = GateResult(
        GATE_RULE,
        old,
        new,
        checks,
        passed,
        candidate,
        serving,
        reviewed_counts=counts,
        held_out_ids=reviewed.held_out_ids,
        evidence=evidence(old),
    )
    if passed and not dry_run:
        promote(settings, candidate, reason="retrain: gate passed")
        result.promoted = True
    _record_gate(candidate, result)
    return result


def _chosen_c(serving: Path) -> tuple[tuple[str, float], ...]:
    """The regularisation the serving model's heads chose (its card), so a retrain skips the search."""
    card = serving / "model_card.json"
    chosen = json.loads(card.read_text()).get("hyperparameters", {}).get("chosen_c", {}) if card.is_file() else {}
    return tuple((task, float(c)) for task, c in chosen.items())


def _candidate_encoder(
    settings: Settings, serving: Path, base: Path | None, fine_tune: bool, say: Callable[[str], object]
) -> tuple[Path, EncoderProfile]:
    """The encoder folder the candidate starts from and the profile it is read with.

    `base` when given (its profile chosen from it); else the fast path reuses the serving model's encoder and the
    fine-tune starts from the encoder the serving model was first built on (`origin_encoder`; the store's e5
    when that folder is gone), both with the serving model's profile, read from its folder.
    """
    if base is not None:
        profile, source = base_profile(base)
        say(describe_base(base, profile, source))
        return Path(base), profile
    profile = model_profile(serving)
    if not fine_tune:
        return serving / "encoder", profile
    origin = origin_encoder(serving)
    if origin is None:
        from streamproc_models.encoder import ensure_encoder

        origin = ensure_encoder(settings.model_store, progress=True)
        say(f"the serving model's first encoder is not known or gone: fine-tuning {origin}")
        profile, _ = base_profile(origin)
    say(f"encoder {origin}: {profile.describe()} (the serving model's)")
    return origin, profile


def origin_encoder(model: Path) -> Path | None:
    """The encoder folder a model was first built on: its manifest's `base_model`, followed through models whose
    encoder was another model's (`retrain`'s fast path); None when not recorded or no longer there."""
    seen: set[Path] = set()
    while is_multihead_dir(model) and model not in seen:
        seen.add(model)
        recorded = read_manifest(model).get("base_model")
        if not recorded:
            return None
        folder = Path(recorded)
        if folder.name == "encoder" and is_multihead_dir(folder.parent):
            model = folder.parent.resolve()
            continue
        return folder if (folder / "config.json").is_file() else None
    return None


def _training_rows(
    sources: TrainingSets, reviewed: ReviewedLabels, weight: int, tasks: TaskSet, say: Callable[[str], object]
) -> tuple[dict[str, tuple[LabeledSet, LabeledSet]], dict[str, list[tuple[str, int]]]]:
    """Per task (train, val): the base rows, then the reviewed rows `weight` times; and the parts of each train.

    A task with reviews but no base data learns from its reviews alone (validated on the held-out ones), once
    they hold two labels or more. The reviewed rows come last and weigh 1 each (they are already repeated).
    """
    training: dict[str, tuple[LabeledSet, LabeledSet]] = {}
    parts: dict[str, list[tuple[str, int]]] = {}
    for task in tasks.names:
        extra = reviewed.train.get(task)
        if task in sources.sets:
            train, val = sources.sets[task]
            base_parts = sources.train_parts.get(task, [])
        elif extra is not None and len(set(extra.labels)) >= 2:
            train, val = LabeledSet([], []), reviewed.holdout.get(task, LabeledSet([], []))
            base_parts = []
            say(f"{task}: no data set, learned from its {len(extra)} reviewed labels alone")
        else:
            if extra is not None:
                say(f"{task}: its reviews hold only {sorted(set(extra.labels))}: no head until they hold two labels")
            continue
        training[task] = (train, val) if extra is None else (concat([train, *[extra] * weight]), val)
        if base_parts:  # the data sets a split is made of are known (the task file's, not a --base-data folder)
            parts[task] = base_parts if extra is None else [*base_parts, (REVIEWED_PART, len(extra) * weight)]
    return training, parts


def _record_gate(folder: Path, result: GateResult) -> None:
    card_path = folder / "model_card.json"
    card = json.loads(card_path.read_text())
    card["gate"] = result.as_card()
    card_path.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    lines = ["", "## Evaluation gate", "", f"Rule: {result.rule}.", ""]
    lines += [f"- {check}" for check in result.checks]
    lines += ["", "Decided on:", ""] + [f"- {line}" for line in result.evidence]
    lines += ["", f"Decision: **{card['gate']['decision']}** (serving model was `{result.serving_folder.name}`).", ""]
    with (folder / "MODEL_CARD.md").open("a", encoding="utf-8") as handle:
        handle.write("\n".join(lines))
