"""The fine-tuning loop: mixed task batches, AdamW, warmup and linear decay, early stopping on macro-F1."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr
from tqdm import tqdm

from streamproc.inference.multihead import MultiHeadClassifier
from streamproc_models.evaluation.metrics import classification_metrics
from streamproc_models.training.batching import bucketed_batches, collate, sorted_batches
from streamproc_models.training.hyperparameters import Hyperparameters
from streamproc_models.training.learning_loss import margin_ranking_loss

MAX_GRAD_NORM = 1.0


@dataclass
class TaskData:
    """One task's tokenized examples; `*_y` are indexes into `labels`."""

    name: str
    labels: list[str]
    train_ids: list[list[int]]
    train_y: list[int]
    val_ids: list[list[int]]
    val_y: list[int]


@dataclass
class History:
    """Per-epoch records, and the validation metrics of the kept (best) epoch per task."""

    epochs: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_metrics: dict[str, dict] = field(default_factory=dict)
    stopped_early: bool = False


def fit(model: MultiHeadClassifier, tasks: list[TaskData], hp: Hyperparameters, pad_id: int) -> History:
    """Train in place; the model ends with the parameters of the epoch with the best mean val macro-F1."""
    rng = random.Random(hp.seed)
    device = next(model.parameters()).device
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=hp.lr, weight_decay=hp.weight_decay)
    first_plan = _epoch_plan(tasks, hp.batch_size, rng)  # every epoch has as many batches
    total = len(first_plan) * hp.epochs
    warmup = int(total * hp.warmup_ratio)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: step / max(1, warmup) if step < warmup else (total - step) / max(1, total - warmup),
    )
    history, best_score, best_state, waited = History(), -1.0, None, 0
    for epoch in range(1, hp.epochs + 1):
        plan = first_plan if epoch == 1 else _epoch_plan(tasks, hp.batch_size, rng)
        started = time.monotonic()
        train = _train_epoch(model, tasks, plan, hp, pad_id, device, optimizer, scheduler, epoch)
        val = {task.name: validate(model, task, hp.eval_batch_size, pad_id) for task in tasks}
        score = float(np.mean([metrics["macro_f1"] for metrics in val.values()]))
        history.epochs.append(
            {
                "epoch": epoch,
                **train,
                "seconds": round(time.monotonic() - started, 1),
                "val_macro_f1_mean": score,
                "val": {name: _summary(metrics) for name, metrics in val.items()},
            }
        )
        tqdm.write(f"epoch {epoch}: train loss {train['train_loss']:.4f}, val macro-F1 {score:.4f}")
        if score > best_score:
            best_score, waited = score, 0
            history.best_epoch, history.best_metrics = epoch, val
            best_state = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
        else:
            waited += 1
            if waited >= hp.patience and epoch < hp.epochs:
                history.stopped_early = True
                break
    if best_state is not None:
        model.load_state_dict(best_state, strict=False)
    return history


def _epoch_plan(tasks: list[TaskData], batch_size: int, rng: random.Random) -> list[tuple[int, list[int]]]:
    """Every task's batches for one epoch, shuffled together."""
    plan = [
        (t, batch)
        for t, task in enumerate(tasks)
        for batch in bucketed_batches([len(ids) for ids in task.train_ids], batch_size, rng)
    ]
    rng.shuffle(plan)
    return plan


def _train_epoch(
    model: MultiHeadClassifier,
    tasks: list[TaskData],
    plan: list[tuple[int, list[int]]],
    hp: Hyperparameters,
    pad_id: int,
    device: torch.device,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    epoch: int,
) -> dict:
    """One pass over `plan`; returns the mean losses per example."""
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    sums = {"train_loss": 0.0, "train_ce": 0.0, "train_ranking_loss": 0.0}
    seen = 0
    bar = tqdm(plan, desc=f"epoch {epoch}/{hp.epochs}", unit="batch", dynamic_ncols=True)
    for t, index in bar:
        task = tasks[t]
        ids, mask = collate([task.train_ids[i] for i in index], pad_id)
        target = torch.tensor([task.train_y[i] for i in index], device=device)
        out = model(ids.to(device), mask.to(device))
        ce = F.cross_entropy(out.logits[task.name], target, reduction="none")
        loss = ce.mean()
        ranking = torch.zeros(())
        if out.predicted_loss is not None:
            ranking = margin_ranking_loss(out.predicted_loss, ce, hp.loss_margin)
            loss = loss + hp.loss_weight * ranking
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM)
        optimizer.step()
        scheduler.step()
        n = len(index)
        seen += n
        for key, value in (("train_loss", loss), ("train_ce", ce.mean()), ("train_ranking_loss", ranking)):
            sums[key] += float(value.detach()) * n
        bar.set_postfix(loss=f"{sums['train_loss'] / seen:.4f}", lr=f"{scheduler.get_last_lr()[0]:.1e}")
    bar.close()
    record = {key: value / max(1, seen) for key, value in sums.items()}
    if model.loss_head is None:
        del record["train_ranking_loss"]
    return {**record, "train_examples": seen}


@torch.inference_mode()
def validate(model: MultiHeadClassifier, task: TaskData, batch_size: int, pad_id: int) -> dict:
    """Classification metrics on the task's validation examples (plus loss-head rank correlation)."""
    model.eval()
    device = next(model.parameters()).device
    predicted = np.zeros(len(task.val_ids), dtype=np.int64)
    ce = np.zeros(len(task.val_ids), dtype=np.float32)
    predicted_loss = np.zeros(len(task.val_ids), dtype=np.float32)
    for index in sorted_batches([len(ids) for ids in task.val_ids], batch_size):
        ids, mask = collate([task.val_ids[i] for i in index], pad_id)
        out = model(ids.to(device), mask.to(device))
        logits = out.logits[task.name].float()
        target = torch.tensor([task.val_y[i] for i in index], device=device)
        predicted[index] = logits.argmax(-1).cpu().numpy()
        ce[index] = F.cross_entropy(logits, target, reduction="none").cpu().numpy()
        if out.predicted_loss is not None:
            predicted_loss[index] = out.predicted_loss.float().cpu().numpy()
    metrics = classification_metrics(
        [task.labels[i] for i in task.val_y], [task.labels[i] for i in predicted], task.labels
    )
    metrics["loss"] = float(ce.mean())
    if model.loss_head is not None:
        metrics["loss_head_spearman"] = float(spearmanr(predicted_loss, ce).statistic)
    return metrics


def _summary(metrics: dict) -> dict:
    """The per-epoch numbers worth plotting and tabulating."""
    keep = ("accuracy", "macro_f1", "loss", "loss_head_spearman")
    return {key: metrics[key] for key in keep if key in metrics}
