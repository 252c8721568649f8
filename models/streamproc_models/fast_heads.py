"""The cheap path: logistic-regression heads on frozen encoder features, folded into a multi-head model.

The encoder is not trained. Its sentence vectors (pooled as the encoder's profile says, mean by default:
`streamproc_models.encoder_choice`) are computed once, a standardised logistic regression is fitted per task
(the regularisation strength picked on a held-out part of the training data, never on the validation split),
and the scaler and the regression are folded into the linear heads of a
`MultiHeadClassifier`, so the pipeline runs it like any other model: one encoder pass, exact same
probabilities as the regression's `predict_proba`.

With `FastSettings.char_ngrams` (the default) the regression also reads hashed character 1-3-gram TF-IDF
vectors of the same text: the encoder part folds into the linear heads, the n-gram part into the
model's `EmbeddingBag` branch (`streamproc.inference.char_ngrams`), so the folder still needs nothing
else at serving time. A task's head covers the union of its training sets' labels: a data set without
some classes trains the classes it has.

With `FastSettings.gated_experts` (the default) a task learned from several data sets gets domain-gated
experts (`streamproc.inference.experts`): a gate regression that tells the data sets apart, and per data
set an expert fitted on all the task's rows with that set weighing `expert_share` of the total. The
single shared head is still fitted: it picks C for the experts and is the ablation they are compared with.
"""

from __future__ import annotations

import copy
import json
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from streamproc.errors import UserError
from streamproc.inference.char_ngrams import CharNgramSpec
from streamproc.inference.encoder_profile import EncoderProfile, Pooling
from streamproc.inference.experts import mix
from streamproc.inference.multihead import MultiHeadClassifier, pool, read_manifest
from streamproc.inference.predictor import resolve_device
from streamproc.inference.truncation import Truncation, token_ids
from streamproc_models import plots
from streamproc_models.char_features import count_matrix, fit_idf, tfidf
from streamproc_models.data import LabeledSet, part_slices
from streamproc_models.encoder_choice import base_profile
from streamproc_models.evaluation.metrics import classification_metrics
from streamproc_models.feature_store import FeatureStore, encoder_fingerprint
from streamproc_models.model_card import describe_data, free_folder, package_versions, versioned_name, write_card
from streamproc_models.training.batching import collate, sorted_batches
from streamproc_models.training.train import load_base

C_GRID = (0.03, 0.1, 0.3, 1.0)
FUSED_C_GRID = (3.0, 10.0)
ENCODER_SCALE = 0.05
HOLDOUT_FRACTION = 0.15
MIN_ROWS_PER_LABEL_TO_SEARCH = 5
FEATURE_BATCH = 32
EXPERT_SHARE = 0.9
GATE_C = 1.0

# A folded head as `fold` returns it: weight (outputs, hidden), bias (outputs,), n-gram rows (buckets, outputs) or None
FoldedRows = tuple[np.ndarray, np.ndarray, np.ndarray | None]


@dataclass(frozen=True)
class FastSettings:
    """What a fast refit depends on (recorded in the model card)."""

    max_length: int = 256
    # What of a longer text the encoder reads (`streamproc.inference.truncation`); recorded in the manifest.
    truncation: Truncation = "head_tail"
    seed: int = 13
    class_weight: str | None = "balanced"
    c_grid: tuple[float, ...] = C_GRID
    # Hashed character n-grams fused with the encoder features (None: encoder features only).
    char_ngrams: CharNgramSpec | None = field(default_factory=CharNgramSpec)
    # Scale of the standardised encoder features next to the L2-normalised n-gram vector, and C with both.
    encoder_scale: float = ENCODER_SCALE
    fused_c_grid: tuple[float, ...] = FUSED_C_GRID
    # Weight each training data set of a task equally (by sample weights), however many rows it has ...
    balance_sources: bool = True
    # ... times these relative weights (source name -> weight, 1 when not named): the task file's source
    # `weight`s (`streamproc_models.default_sets.source_weights`), e.g. finance news three times the reviews.
    source_emphasis: tuple[tuple[str, float], ...] = ()
    # Parts that weigh 1 per row rather than a share (`retrain`'s reviewed labels).
    per_row_parts: tuple[str, ...] = ()
    # A task with several training data sets gets a gate and one expert per set (`streamproc.inference.experts`),
    # each expert weighing its own set `expert_share` of the total; the gate's C (it tells text kinds apart).
    # 0.9 rather than 1 (own rows only): an expert must still know the labels its set lacks (a bare headline
    # about football reaches the headline expert). Fast default vs one shared head, val: finance 0.726 -> 0.735,
    # NSMC 0.836 -> 0.844, headlines 0.752 -> 0.762, articles 0.843 -> 0.856; training holdout: finance
    # 0.735 -> 0.750, NSMC 0.832 -> 0.845, headlines 0.751 -> 0.760, articles 0.924 -> 0.909 (137 rows).
    gated_experts: bool = True
    expert_share: float = EXPERT_SHARE
    gate_c: float = GATE_C
    # Encoder features are kept per text in a `FeatureStore` here (None: no cache).
    feature_cache: Path | None = None
    # C per task instead of searching the grid (task -> C; `retrain` reuses the serving model's choice).
    fixed_c: tuple[tuple[str, float], ...] = ()
    # Fit the comparison heads of `ablations.json` (encoder-only; the shared head is fitted anyway).
    ablations: bool = True
    # A model folder on the same encoder whose heads start the solver (`retrain`: the serving model). A task whose
    # labels and experts match starts its gate, experts or plain head from that model's solution, a few rows
    # away from the new one; the optimum is the same, found in a few steps rather than about a hundred.
    warm_start: Path | None = None


@dataclass
class FittedHead:
    """A task's folded linear head and how it was chosen."""

    labels: list[str]
    weight: torch.Tensor
    bias: torch.Tensor
    c: float
    holdout_macro_f1: dict[float, float]
    char_weight: torch.Tensor | None = None  # (buckets, outputs): the n-gram branch's rows
    experts: list[str] = field(default_factory=list)  # the gated experts' domains (none: a plain head)
    regression: _ScaledRegression | None = field(default=None, repr=False)  # what was folded (plain heads)

    def logits(self, features: np.ndarray, chars: sparse.csr_matrix | None = None) -> np.ndarray:
        """The folded model's logits on precomputed features (and n-gram TF-IDF rows when it has a branch)."""
        out = features @ self.weight.numpy().T + self.bias.numpy()
        if self.char_weight is not None and chars is not None:
            out = out + np.asarray(chars @ self.char_weight.numpy())
        return mix(torch.from_numpy(np.asarray(out, dtype=np.float32)), len(self.experts)).numpy()


@torch.inference_mode()
def encode_features(
    encoder: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: list[str],
    max_length: int,
    desc: str = "encoding",
    cache: Path | None = None,
    truncation: Truncation = "head",
    prefix: str = "",
    pooling: Pooling = "mean",
) -> np.ndarray:
    """Pooled last-layer vectors (`pooling`), one row per text (length-sorted batches, dynamic padding).

    Texts, after `prefix`, are cut to `max_length` tokens as `truncation` says (the serving side's own function).
    With `cache`, vectors are kept per text in a `FeatureStore` there (keyed by the encoder's weights, the
    tokenisation, the prefix and the pooling): only texts it has not seen are encoded.
    """
    if cache is not None:
        store = FeatureStore(cache, encoder_fingerprint(encoder), max_length, truncation, prefix, pooling)
        try:
            width = encoder.config.hidden_size
            return store.features(
                texts,
                width,
                lambda new: encode_features(
                    encoder, tokenizer, new, max_length, desc, None, truncation, prefix, pooling
                ),
            )
        finally:
            store.close()
    encoder.eval()
    device = next(encoder.parameters()).device
    ids = token_ids(tokenizer, texts, max_length, truncation, prefix)
    features = np.zeros((len(texts), encoder.config.hidden_size), dtype=np.float32)
    for index in tqdm(sorted_batches([len(x) for x in ids], FEATURE_BATCH), desc=desc, unit="batch"):
        input_ids, mask = collate([ids[i] for i in index], tokenizer.pad_token_id)
        hidden = encoder(input_ids=input_ids.to(device), attention_mask=mask.to(device)).last_hidden_state
        features[index] = pool(hidden, mask.to(device), pooling).float().cpu().numpy()
    return features


def fit_head(
    features: np.ndarray,
    labels: list[str],
    settings: FastSettings,
    chars: sparse.csr_matrix | None = None,
    sample_weight: np.ndarray | None = None,
    start: FoldedRows | None = None,
) -> FittedHead:
    """Pick C on a held-out part of the training data, refit on all of it, fold into a linear layer.

    With `chars` (TF-IDF rows of the same texts) the regression reads both, and the fold also returns the
    n-gram rows; C then comes from `settings.fused_c_grid`. `start`: a folded head of the same labels the
    final fit's solver starts from.
    """
    names = sorted(set(labels))
    if len(names) < 2:
        raise UserError(f"a head needs at least two labels in its training data, got only {names}")
    index = {name: i for i, name in enumerate(names)}
    grid = settings.c_grid if chars is None else settings.fused_c_grid
    # Too few rows of some label to hold part of them out (a task learned from its first reviews): the grid's
    # smallest C, the strongest regularisation, is the safe choice.
    searched = grid if len(grid) > 1 and min(Counter(labels).values()) >= MIN_ROWS_PER_LABEL_TO_SEARCH else ()
    scores: dict[float, float] = {}
    if searched:
        rest, held = train_test_split(
            np.arange(len(labels)), test_size=HOLDOUT_FRACTION, stratify=labels, random_state=settings.seed
        )
    for c in searched:
        weights = None if sample_weight is None else sample_weight[rest]
        model = _ScaledRegression(c, settings).fit(
            features[rest], [labels[i] for i in rest], _rows(chars, rest), weights
        )
        predicted = model.predict(features[held], _rows(chars, held)).tolist()
        scores[c] = classification_metrics([labels[i] for i in held], predicted, names)["macro_f1"]
    best = max(grid, key=lambda c: (scores.get(c, 0.0), -c))  # without a search: the smallest C
    regression = _ScaledRegression(best, settings).fit(features, labels, chars, sample_weight, start)
    weight, bias, char_weight = fold(regression, [index[n] for n in regression.regression.classes_], len(names))
    return FittedHead(names, weight, bias, best, scores, char_weight, regression=regression)


def fit_gated_experts(
    features: np.ndarray,
    labels: list[str],
    settings: FastSettings,
    parts: list[tuple[str, int]],
    shared: FittedHead,
    chars: sparse.csr_matrix | None = None,
    starts: list[FoldedRows] | None = None,
) -> FittedHead:
    """A gate over the training data sets (consecutive `parts`) and an expert per set, as one wide head.

    The gate is a regression predicting which set a row comes from. Expert d is the `shared` head refitted
    on every row with set d weighing `settings.expert_share` of the total (the other sets keep their
    relative weights), warm-started from the shared solution (10-90 solver steps instead of about 110), or
    from `starts` (the gate's folded rows, then each expert's: a model fitted on nearly the same rows).
    Parts in `settings.per_row_parts` are not domains: every expert reads them per row.
    """
    domains = _domains(parts, settings.per_row_parts)
    single_c = replace(settings, c_grid=(settings.gate_c,), fused_c_grid=(settings.gate_c,))
    sources = [name for name, rows in parts for _ in range(rows)]
    known = [i for i, name in enumerate(sources) if name in domains]
    gate_start, expert_starts = (starts[0], starts[1:]) if starts else (None, [None] * len(domains))
    gate = fit_head(
        features[known], [sources[i] for i in known], single_c, _rows(chars, np.array(known)), start=gate_start
    )
    emphasis = dict(settings.source_emphasis)
    if shared.regression is None:
        raise ValueError("the shared head must come from fit_head (its regression starts the experts)")
    experts = []
    for domain, start in zip(domains, expert_starts, strict=True):
        others = sum(emphasis.get(name, 1.0) for name in domains if name != domain)
        weights = {**emphasis, domain: settings.expert_share / (1 - settings.expert_share) * others}
        regression = copy.deepcopy(shared.regression)
        regression.regression.set_params(warm_start=True)
        if start is not None:
            regression.start_from(start)
        regression.regression.fit(
            regression.inputs(features, chars), labels, source_weights(parts, weights, settings.per_row_parts)
        )
        order = [shared.labels.index(n) for n in regression.regression.classes_]
        weight, bias, char_weight = fold(regression, order, len(shared.labels))
        experts.append(FittedHead(shared.labels, weight, bias, shared.c, {}, char_weight))
    heads = [gate, *experts]
    return FittedHead(
        labels=shared.labels,
        weight=torch.cat([head.weight for head in heads]),
        bias=torch.cat([head.bias for head in heads]),
        c=shared.c,
        holdout_macro_f1=shared.holdout_macro_f1,
        char_weight=None if chars is None else torch.cat([h.char_weight for h in heads], dim=1),  # type: ignore[misc]
        experts=gate.labels,
    )


def fold(
    pipeline: _ScaledRegression, order: list[int], n_labels: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(weight, bias, n-gram rows) of layers whose softmax equals the scaler + regression's `predict_proba`.

    Standardisation (and the encoder scale s) folds as W' = s·W / σ, b' = b - W'·μ; the n-gram columns of
    the coefficients become the branch's rows of their buckets (the others 0; None without n-grams). A binary
    regression has one row w: softmax over (-z/2, z/2) is sigmoid(z), so its two rows are -w/2 and w/2.
    """
    scaler: StandardScaler = pipeline.scaler
    regression: LogisticRegression = pipeline.regression
    coef, intercept = regression.coef_, regression.intercept_
    if coef.shape[0] == 1:
        coef, intercept = np.vstack([-coef / 2, coef / 2]), np.concatenate([-intercept / 2, intercept / 2])
    dense = scaler.scale_.shape[0]
    scaled = coef[:, :dense] * pipeline.scale / scaler.scale_
    weight = np.zeros((n_labels, dense))
    bias = np.zeros(n_labels)
    weight[order] = scaled
    bias[order] = intercept - scaled @ scaler.mean_
    char_weight = None
    if coef.shape[1] > dense:
        rows = np.zeros((pipeline.buckets, n_labels), dtype=np.float32)
        rows[np.ix_(pipeline.columns, np.asarray(order))] = coef[:, dense:].T
        char_weight = torch.from_numpy(rows)
    return torch.tensor(weight, dtype=torch.float32), torch.tensor(bias, dtype=torch.float32), char_weight


def train_fast_model(
    sets: dict[str, tuple[LabeledSet, LabeledSet]],
    base: Path,
    out_root: Path,
    name: str,
    settings: FastSettings = FastSettings(),
    data_files: dict[str, dict[str, Path | None]] | None = None,
    device: str = "auto",
    val_parts: dict[str, list[tuple[str, int]]] | None = None,
    train_parts: dict[str, list[tuple[str, int]]] | None = None,
    fine_tuned: Path | None = None,
    profile: EncoderProfile | None = None,
) -> Path:
    """Fit a head per task of `sets` (task -> (train, val)) on the frozen `base`; write `<out_root>/<name>/<v>`.

    `profile` is what the recipe assumes about the encoder (pooling, input prefix, positions; recorded in the
    folder); without one it is chosen from `base` (`streamproc_models.encoder_choice.base_profile`). Texts are
    cut to `settings.max_length` tokens or the encoder's positions, whichever is fewer.

    `val_parts` names the data sets a task's validation split is made of, in order (task -> [(name, rows)]):
    the card then scores each one, and compares the fused model with its encoder-only ablation.
    `train_parts` does the same for the training splits; with `settings.balance_sources` each part then
    weighs as much as any other. `fine_tuned` is the folder of the fine-tune `base` comes from: its card,
    training curves and confusion matrix are kept in the new folder's `fine_tune/`, summarised in the card.
    """
    started, cpu_started = time.monotonic(), time.process_time()
    encoder, tokenizer = load_base(base)
    profile = profile or base_profile(base, encoder.config, tokenizer)[0]
    max_length = profile.cap(settings.max_length)
    # transformers wraps `to` with functools.wraps, whose type (typeshed's _Wrapped) loses the bound `self`
    encoder.to(resolve_device(device))  # type: ignore[arg-type]
    features: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for task, (train, val) in sets.items():
        features[task] = tuple(  # type: ignore[assignment]
            encode_features(
                encoder,
                tokenizer,
                part.texts,
                max_length,
                f"{task}: {split} features",
                settings.feature_cache,
                settings.truncation,
                profile.input_prefix,
                profile.pooling,
            )
            for split, part in (("train", train), ("val", val))
        )
    chars, idf = _char_features(sets, settings.char_ngrams)
    heads: dict[str, FittedHead] = {}
    metrics: dict[str, dict] = {}
    ablation: dict[str, dict] = {}
    emphasis = dict(settings.source_emphasis)
    warm_starts = WarmStarts(settings.warm_start)
    for task, (train, val) in sets.items():
        train_x, val_x = features[task]
        train_c, val_c = chars.get(task, (None, None))
        sources = (train_parts or {}).get(task)
        weights = source_weights(sources, emphasis, settings.per_row_parts) if settings.balance_sources else None
        fixed = dict(settings.fixed_c).get(task)
        task_settings = settings if fixed is None else replace(settings, c_grid=(fixed,), fused_c_grid=(fixed,))
        domains = _domains(sources or [], settings.per_row_parts) if settings.gated_experts else []
        gated = len(domains) > 1
        starts = warm_starts.get(task, sorted(set(train.labels)), domains if gated else [], train_x.shape[1])
        plain_start = None if gated or starts is None else starts[0]
        shared = head = fit_head(train_x, train.labels, task_settings, train_c, weights, plain_start)
        unknown = sorted(set(val.labels) - set(head.labels))
        if unknown:
            raise UserError(f"{task}: validation labels {unknown} never occur in the training data")
        parts = (val_parts or {}).get(task) or [(task, len(val))]
        variants: dict[str, dict] = {}
        if gated:
            head = fit_gated_experts(train_x, train.labels, settings, sources or [], shared, train_c, starts)
            variants["shared_head"] = _per_part(shared, val_x, val_c, val.labels, parts)
        heads[task] = head
        if not len(val):  # a task learned from reviews alone, none of them held out yet
            metrics[task] = {"n": 0, "accuracy": None, "macro_f1": None, "per_class": {}}
            continue
        metrics[task] = score_head(head, val_x, val.labels, val_c)
        ablation[task] = {"fused": _per_part(head, val_x, val_c, val.labels, parts), **variants}
        if train_c is not None and settings.ablations:
            plain = fit_head(train_x, train.labels, settings, sample_weight=weights)
            ablation[task]["encoder_only"] = _per_part(plain, val_x, None, val.labels, parts)
    version = versioned_name(name)
    model = MultiHeadClassifier(
        encoder.cpu(),
        {t: h.labels for t, h in heads.items()},
        version=version,
        char_ngrams=settings.char_ngrams,
        experts={t: h.experts for t, h in heads.items()},
        profile=profile,
    )
    with torch.no_grad():
        for task, head in heads.items():
            model.head(task).weight.copy_(head.weight)
            model.head(task).bias.copy_(head.bias)
            if model.char_branch is not None and head.char_weight is not None:
                model.char_branch.bag(task).weight.copy_(head.char_weight)
        if model.char_branch is not None and idf is not None:
            model.char_branch.idf.copy_(torch.from_numpy(idf))
    folder = free_folder(Path(out_root) / name / version)
    model.version = folder.name
    # A fine-tune's folder is scratch: the folder and its card name the encoder it started from.
    origin = base if fine_tuned is None else _fine_tune_origin(fine_tuned)
    extra = {"max_length": max_length, "truncation": settings.truncation, "base_model": str(origin)}
    model.save(folder, tokenizer=tokenizer, extra=extra)
    per_set = {task: variants["fused"] for task, variants in ablation.items()}
    record = {"version": folder.name, "kind": "fast-heads", "tasks": metrics, "per_data_set": per_set, "epochs": []}
    (folder / "metrics.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    (folder / "ablations.json").write_text(json.dumps(ablation, indent=2, ensure_ascii=False) + "\n")
    card = _card(folder.name, origin, model, sets, heads, metrics, settings, data_files or {}, started)
    card["hyperparameters"]["max_length"] = max_length
    card["per_data_set"] = {
        task: {n: {k: m[k] for k in ("n", "accuracy", "macro_f1", "per_class")} for n, m in parts.items()}
        for task, parts in per_set.items()
    }
    card["cpu_seconds"] = round(time.process_time() - cpu_started, 1)
    if fine_tuned is not None:
        card["fine_tune"] = _keep_fine_tune(fine_tuned, folder / "fine_tune")
        epochs = card["fine_tune"]["epochs_run"]
        card["summary"] = card["summary"].replace(" frozen ", " the fine-tuned ", 1) + (
            f" The encoder was fine-tuned first ({epochs} epoch{'s' if epochs != 1 else ''}; see fine_tune/)."
        )
    write_card(folder, card)
    matrices = {
        f"{task}: {n}": (m["confusion"]["labels"], m["confusion"]["matrix"])
        for task, parts in per_set.items()
        for n, m in parts.items()
    }
    if matrices:  # a model of tasks learned from reviews alone may have no validation rows yet
        plots.confusion_matrices(matrices, folder / "confusion_matrix.png")
        plots.ablation_bars(ablation, folder / "ablations.png")
    return folder


def score_head(
    head: FittedHead, features: np.ndarray, labels: list[str], chars: sparse.csr_matrix | None = None
) -> dict:
    """Validation metrics of a folded head on precomputed features (and n-gram rows)."""
    logits = head.logits(features, chars)
    predicted = [head.labels[i] for i in logits.argmax(-1).tolist()]
    return classification_metrics(labels, predicted, head.labels)


def source_weights(
    parts: list[tuple[str, int]] | None, emphasis: dict[str, float] | None = None, per_row: tuple[str, ...] = ()
) -> np.ndarray | None:
    """Sample weights giving each consecutive part the same total weight (mean 1), times its `emphasis`.

    Parts named in `per_row` weigh 1 per row instead (reviewed labels, already repeated as often as they
    count) and the other parts share the rest. None for a single part.
    """
    if not parts or len(parts) < 2:
        return None
    shares = {name: (emphasis or {}).get(name, 1.0) for name, _ in parts if name not in per_row}
    shared = sum(rows for name, rows in parts if name not in per_row)
    scale = sum(shares.values())
    return np.concatenate(
        [
            np.ones(rows) if name in per_row else np.full(rows, shared * shares[name] / (scale * rows))
            for name, rows in parts
            if rows
        ]
    )


def _domains(parts: list[tuple[str, int]], per_row: tuple[str, ...]) -> list[str]:
    """The training data sets a gate tells apart: every non-empty part not read per row, sorted."""
    return sorted(name for name, rows in parts if rows and name not in per_row)


def _per_part(
    head: FittedHead,
    features: np.ndarray,
    chars: sparse.csr_matrix | None,
    labels: list[str],
    parts: list[tuple[str, int]],
) -> dict[str, dict]:
    """Metrics of each named consecutive slice of a validation split."""
    scores = {}
    for part, rows in part_slices(parts):
        scores[part] = score_head(head, features[rows], labels[rows], None if chars is None else chars[rows])
    return scores


def _char_features(
    sets: dict[str, tuple[LabeledSet, LabeledSet]], spec: CharNgramSpec | None
) -> tuple[dict[str, tuple[sparse.csr_matrix, sparse.csr_matrix]], np.ndarray | None]:
    """Per task (train, val) n-gram TF-IDF rows, with one IDF fitted on every task's training texts."""
    if spec is None:
        return {}, None
    counts = {
        task: (count_matrix(train.texts, spec, f"{task}: train n-grams"), count_matrix(val.texts, spec))
        for task, (train, val) in sets.items()
    }
    idf = fit_idf(sparse.vstack([train for train, _ in counts.values()], format="csr"))
    return {task: (tfidf(train, idf), tfidf(val, idf)) for task, (train, val) in counts.items()}, idf


class _ScaledRegression:
    """Scaler then logistic regression (on [scale · standardised features, n-gram TF-IDF] when given).

    The regression reads only the n-gram buckets its training rows use (`columns`): an L2-regularised weight
    of a bucket no training row has stays 0, so leaving it out changes nothing but the solver's work (about
    166,000 and 174,000 of the 262,144 buckets for the default sentiment and topic sets). The solver's stopping
    point moves within its tolerance: the fast default's val accuracy moved by 1 of 303 articles.
    """

    def __init__(self, c: float, settings: FastSettings) -> None:
        self.scaler = StandardScaler()
        self.regression = LogisticRegression(C=c, max_iter=3000, class_weight=settings.class_weight)
        self.scale = 1.0
        self.encoder_scale = settings.encoder_scale
        self.columns = np.zeros(0, dtype=np.int64)
        self.buckets = 0

    def inputs(self, features: np.ndarray, chars: sparse.csr_matrix | None):
        """What the regression reads: the scaled features, and the used n-gram columns beside them when given."""
        dense = self.scaler.transform(features) * self.scale
        if chars is None:
            return dense
        return sparse.hstack([sparse.csr_matrix(dense), chars[:, self.columns]], format="csr")

    def fit(
        self,
        features: np.ndarray,
        labels: list[str],
        chars: sparse.csr_matrix | None = None,
        sample_weight: np.ndarray | None = None,
        start: FoldedRows | None = None,
    ) -> _ScaledRegression:
        """Fit the scaler, then the regression (its solver starting from the folded head `start` when given)."""
        self.scaler.fit(features)
        self.scale = 1.0 if chars is None else self.encoder_scale
        if chars is not None:
            self.columns, self.buckets = np.unique(chars.indices), chars.shape[1]
        if start is not None:
            self.start_from(start)
        self.regression.fit(self.inputs(features, chars), labels, sample_weight=sample_weight)
        return self

    def start_from(self, rows: FoldedRows) -> None:
        """Let the next fit start where the folded head `rows` is, seen through this scaler and these n-gram
        columns (`fold` inverted: A = W'σ/s, c = b' + W'μ, the used buckets' rows; a binary head's two rows
        -w/2, w/2 give w); n-gram columns the head has no row for start at 0."""
        weight, bias, char_rows = rows
        coef = weight * self.scaler.scale_ / self.scale
        intercept = bias + weight @ self.scaler.mean_
        if len(self.columns):
            used = char_rows[self.columns].T if char_rows is not None else np.zeros((len(weight), len(self.columns)))
            coef = np.hstack([coef, used])
        if len(weight) == 2:
            coef, intercept = coef[1:] - coef[:1], intercept[1:] - intercept[:1]
        self.regression.set_params(warm_start=True)
        self.regression.coef_, self.regression.intercept_ = coef, intercept

    def predict(self, features: np.ndarray, chars: sparse.csr_matrix | None = None) -> np.ndarray:
        return self.regression.predict(self.inputs(features, chars))

    def predict_proba(self, features: np.ndarray, chars: sparse.csr_matrix | None = None) -> np.ndarray:
        return self.regression.predict_proba(self.inputs(features, chars))


class WarmStarts:
    """The folded heads of a model folder (`FastSettings.warm_start`), per task, as solver starts."""

    def __init__(self, folder: Path | None) -> None:
        self.manifest = read_manifest(folder) if folder is not None else {}
        self.tensors = load_file(str(Path(folder) / "heads.safetensors")) if folder is not None else {}

    def get(self, task: str, labels: list[str], domains: list[str], hidden: int) -> list[FoldedRows] | None:
        """The starts for `task`'s regressions: [gate, expert per domain] for gated experts over `domains`, or
        [the plain head]; None when the folder has no head for it of these labels, experts and width."""
        experts = self.manifest.get("experts", {}).get(task, [])
        if self.manifest.get("tasks", {}).get(task) != labels or experts != domains:
            return None
        weight = self.tensors[f"heads.{task}.weight"].numpy().astype(np.float64)
        if weight.shape[1] != hidden:
            return None
        bias = self.tensors[f"heads.{task}.bias"].numpy().astype(np.float64)
        bag = self.tensors.get(f"char.bags.{task}.weight")
        char_rows = None if bag is None else bag.numpy().astype(np.float64)
        sizes = [len(domains)] + [len(labels)] * len(domains) if domains else [len(labels)]
        starts, begin = [], 0
        for size in sizes:
            rows = slice(begin, begin + size)
            starts.append((weight[rows], bias[rows], None if char_rows is None else char_rows[:, rows]))
            begin += size
        return starts


def _fine_tune_origin(tuned: Path) -> Path:
    """The encoder a fine-tune folder started from (its card's `base_model`)."""
    return Path(json.loads((tuned / "model_card.json").read_text())["base_model"]["path"])


def _keep_fine_tune(tuned: Path, into: Path) -> dict:
    """Copy a fine-tune folder's card, metrics and plots `into` a folder; what the refit card says of it."""
    into.mkdir()
    for name in ("model_card.json", "MODEL_CARD.md", "metrics.json", "training_curves.png", "confusion_matrix.png"):
        if (tuned / name).is_file():
            shutil.copy2(tuned / name, into / name)
    card = json.loads((tuned / "model_card.json").read_text())
    return {
        "version": card["version"],
        "epochs_run": len(card["epochs"]),
        "best_epoch": card.get("best_epoch"),
        "hyperparameters": card["hyperparameters"],
        "wall_seconds": card.get("wall_seconds"),
        "own_heads_metrics": {task: {k: m[k] for k in ("accuracy", "macro_f1")} for task, m in card["metrics"].items()},
    }


def _rows(chars: sparse.csr_matrix | None, index: np.ndarray) -> sparse.csr_matrix | None:
    return None if chars is None else chars[index]


def _card(
    version: str,
    base: Path,
    model: MultiHeadClassifier,
    sets: dict[str, tuple[LabeledSet, LabeledSet]],
    heads: dict[str, FittedHead],
    metrics: dict[str, dict],
    settings: FastSettings,
    data_files: dict[str, dict[str, Path | None]],
    started: float,
) -> dict:
    headline = ("n", "accuracy", "macro_f1", "per_class")
    gated = any(head.experts for head in heads.values())
    return {
        "version": version,
        "summary": f"{', '.join(model.tasks)}: logistic-regression heads on frozen {Path(base).name} "
        + ("mean-pooled" if model.pooling == "mean" else "first-token")
        + " features"
        + (" fused with hashed character n-gram TF-IDF" if settings.char_ngrams else "")
        + " (fast refit)."
        + (" Tasks learned from several data sets have domain-gated experts." if gated else ""),
        "tasks": model.tasks,
        "loss_head_layers": [],
        "metrics": {task: {k: m[k] for k in headline} for task, m in metrics.items()},
        "epochs": [],
        "data": {
            task: {
                "train": describe_data(train, data_files.get(task, {}).get("train")),
                "val": describe_data(val, data_files.get(task, {}).get("val")),
            }
            for task, (train, val) in sets.items()
        },
        "base_model": {
            "path": str(base),
            "model_type": model.encoder.config.model_type,
            "hidden_size": model.encoder.config.hidden_size,
            "profile": {"pooling": model.pooling, **(model.profile.manifest() if model.profile else {})},
        },
        "hyperparameters": {
            "max_length": settings.max_length,
            "truncation": settings.truncation,
            "seed": settings.seed,
            "class_weight": settings.class_weight,
            "balance_sources": settings.balance_sources,
            "source_emphasis": dict(settings.source_emphasis),
            "per_row_parts": list(settings.per_row_parts),
            "c_grid": list(settings.c_grid if settings.char_ngrams is None else settings.fused_c_grid),
            "char_ngrams": settings.char_ngrams.to_json() if settings.char_ngrams else None,
            "encoder_scale": settings.encoder_scale if settings.char_ngrams else None,
            "gated_experts": {task: head.experts for task, head in heads.items() if head.experts},
            "expert_share": settings.expert_share if settings.gated_experts else None,
            "gate_c": settings.gate_c if settings.gated_experts else None,
            "warm_start": str(settings.warm_start) if settings.warm_start else None,
            "chosen_c": {task: head.c for task, head in heads.items()},
            "holdout_macro_f1": {task: head.holdout_macro_f1 for task, head in heads.items()},
        },
        "device": str(next(model.parameters()).device),
        "torch_threads": torch.get_num_threads(),
        "wall_seconds": round(time.monotonic() - started, 1),
        "packages": package_versions(),
    }
