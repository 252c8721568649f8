"""The default model built on the encoders users bring, through everything: tiny, randomly initialised ELECTRA,
RoBERTa (byte-level BPE) and BERT folders go through both recipes (`build-defaults --base`, fast and fine-tune),
the worker, retrain and the live model switch.

Each architecture also carries one of the properties a folder can ask for: ELECTRA the defaults (mean pooling,
no prefix), RoBERTa an input prefix (`streamproc_encoder.json`), BERT first-token pooling (a sentence-transformers
pooling config). The base folder loses that file before `retrain`: the candidate must take the properties from the
serving model's folder, and the worker must read them from whichever folder it serves.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer
from typer.testing import CliRunner

from streamproc.cli.main import _register_plugin_commands, app
from streamproc.config import Settings
from streamproc.connections import redis_client
from streamproc.inference.multihead import MultiHeadClassifier, read_manifest
from streamproc.inference.truncation import token_ids
from streamproc.ingest.model_text import model_text
from streamproc.publish.publisher import publish
from streamproc.review.desk import ReviewDesk
from streamproc.tasks import load_tasks
from streamproc_models.defaults import ensure_default_models
from streamproc_models.encoder_choice import OVERRIDES
from streamproc_models.registry import promote, serving_folder
from streamproc_models.retrain import retrain
from tests.models.toy_data import SENTIMENT_WORDS, TOPIC_WORDS, toy_rows, write_toy_set
from tests.pipeline.harness import (
    WorkerProcess,
    encode,
    indexed_documents,
    make_articles,
    provision,
    wait_until_processed,
)
from tests.review_items import document, push
from tests.tiny_models import ARCHITECTURES, TINY_POSITIONS, build_encoder

pytestmark = pytest.mark.slow

# what each architecture's folder asks for, and how its manifest must read
ASKED = {"electra": {}, "roberta": {"input_prefix": "query: "}, "bert": {"pooling": "cls"}}
FRAMES = {"electra": (["[CLS]"], ["[SEP]"]), "roberta": (["<s>"], ["</s>"]), "bert": (["[CLS]"], ["[SEP]"])}


def _ask(base: Path, arch: str) -> list[Path]:
    """Put the architecture's wish into its folder; the files written."""
    if arch == "roberta":
        (base / OVERRIDES).write_text(json.dumps(ASKED[arch]))
        return [base / OVERRIDES]
    if arch == "bert":
        modules = [{"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
        (base / "modules.json").write_text(json.dumps(modules))
        (base / "1_Pooling").mkdir()
        (base / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}))
        return [base / "modules.json", base / "1_Pooling" / "config.json"]
    return []


def _check_manifest(folder: Path, arch: str) -> None:
    manifest = read_manifest(folder)
    expected = {"input_prefix": "", "pooling": "mean", **ASKED[arch]}
    assert {key: manifest[key] for key in expected} == expected, manifest
    head, tail = FRAMES[arch]
    assert manifest["special_tokens"] == {"head": head, "tail": tail}
    assert manifest["max_positions"] == manifest["max_length"] == TINY_POSITIONS  # 256 asked, 128 positions


def _served_by(settings: Settings, ids: list[str], folder: Path, arch: str) -> None:
    """The documents of `ids` were labeled by `folder`, reading the ids the recipes train on: the texts after the
    architecture's prefix, head + tail within 128 tokens (computed here, not by the serving code)."""
    stored = indexed_documents(settings)
    docs = [stored[i] for i in ids]
    assert {doc["model_versions"]["topic"] for doc in docs} == {folder.name}
    model = MultiHeadClassifier.load(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder / "encoder", local_files_only=True)
    texts = [model_text(doc["title"], doc["body"]) for doc in docs]
    prefix = str(ASKED[arch].get("input_prefix", ""))
    rows = token_ids(tokenizer, texts, TINY_POSITIONS, "head_tail", prefix)
    width = max(len(row) for row in rows)
    ids_, mask = (
        torch.tensor([row + [tokenizer.pad_token_id] * (width - len(row)) for row in rows]),
        torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in rows]),
    )
    assert model.char_branch is not None
    with torch.inference_mode():
        logits = model(ids_, mask, model.char_branch.batch(texts)).logits
    for task in ("topic", "sentiment", "emotion"):
        labels = model.tasks[task]
        got = np.array([[doc[task]["probabilities"][label] for label in labels] for doc in docs])
        np.testing.assert_allclose(got, torch.softmax(logits[task], -1).numpy(), atol=2e-3, err_msg=task)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_both_recipes_the_worker_retrain_and_the_live_switch(
    arch: str, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = build_encoder(tmp_path / f"{arch}-base", arch, seed=5)
    asked = _ask(base, arch)
    data = tmp_path / "data"
    for task in load_tasks():  # small separable sets in the shared data's layout
        for source in task.sources:
            if source.folder:
                write_toy_set(data / source.folder, TOPIC_WORDS if task.name == "topic" else SENTIMENT_WORDS, 12)
    monkeypatch.delenv("STREAMPROC_MULTITASK_MODEL_DIR")  # serve through the model store's `default` link
    for name, value in {
        "STREAMPROC_DATA_DIR": str(data),
        "STREAMPROC_DEVICE": "cpu",
        "STREAMPROC_REVIEW_THRESHOLD": "0",
        "STREAMPROC_MODEL_POLL_SECONDS": "0.5",
        "STREAMPROC_BATCH_MAX_WAIT": "0.2",
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings()

    # 1. both recipes on the folder (`build-defaults --base`): the properties chosen from it, printed, recorded
    _register_plugin_commands()
    runner, built = CliRunner(), {}
    for recipe in ("fast", "fine-tune"):
        args = ["models", "build-defaults", "--base", str(base), "--no-evaluate"]
        done = runner.invoke(app, [*args, "--fine-tune"] if recipe == "fine-tune" else args)
        assert done.exit_code == 0, done.output
        assert f"encoder {base} ({arch}): " in done.output
        built[recipe] = serving_folder(settings)
    fast, tuned = built["fast"], built["fine-tune"]
    assert fast.parent.name == "default-fast" and tuned.parent.name == "default-finetuned"
    said: list[str] = []
    for folder in (fast, tuned):
        _check_manifest(folder, arch)
        assert read_manifest(folder)["base_model"] == str(base)
    assert ensure_default_models(settings, base=base, fine_tune=True, say=said.append) == tuned
    assert said == []  # reused, not rebuilt

    provision(settings)
    worker = WorkerProcess(tmp_path / "worker.log").start()
    published = 0

    def send(prefix: str, n: int) -> list[str]:
        nonlocal published
        articles = make_articles(n, seed=published, prefix=prefix)
        for article in articles:
            article["id"] = f"{prefix}-{published}"
            published += 1
        publish(settings, [encode(a) for a in articles], progress=False)
        wait_until_processed(settings, published, timeout=120)
        return [a["id"] for a in articles]

    def switch(switches: int) -> list[str]:
        """Articles sent after the worker's `switches`-th model switch (it happens between batches: keep some
        coming until it is logged)."""
        deadline = time.monotonic() + 90
        while worker.log().count("switched models") < switches:
            assert time.monotonic() < deadline, worker.log()[-3000:]
            send(f"switching-{switches}", 4)
        return send(f"after-{switches}", 16)

    try:
        # 2. the worker serves the fine-tuned model, reading its properties from the model folder
        _served_by(settings, send("tuned", 24), tuned, arch)

        # 3. retrain (fast path: the serving model's encoder), with the base folder's wishes gone
        for path in asked:
            path.unlink()
        rows = toy_rows(TOPIC_WORDS, 10, seed=31)
        docs = []
        for i, (text, _) in enumerate(rows):
            doc = document(f"rv{i:03d}", 0.9, topic="politics", title=text)
            doc["body"] = ""
            docs.append(doc)
        push(settings, docs)
        client = redis_client(settings)
        try:
            desk = ReviewDesk(client, settings.review_key_prefix, settings.tasks)
            for doc, (_, label) in zip(docs, rows, strict=True):
                desk.label(doc["id"], "kim", {"topic": label})
            result = retrain(settings, desk, say=lambda _: None)
        finally:
            client.close()
        assert result.promoted, result.checks
        candidate = result.candidate_folder
        _check_manifest(candidate, arch)
        assert read_manifest(candidate)["base_model"] == str(tuned / "encoder")

        # 4. the live switch to the candidate, then back to the fast recipe's model
        _served_by(settings, switch(1), candidate, arch)
        promote(settings, fast)
        _served_by(settings, switch(2), fast, arch)
        assert worker.process is not None and worker.process.poll() is None
    finally:
        worker.stop()
    assert "Traceback" not in worker.log()
