"""The naive consumer the pipeline is compared with: one message at a time, a Hugging Face `pipeline(...)` per
task, one Elasticsearch index request (and Redis write) per article, an offset commit per message."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import torch
from kafka import KafkaConsumer
from safetensors.torch import load_file
from tqdm import tqdm

from streamproc.config import Settings
from streamproc.connections import elasticsearch_client, kafka_python_options, redis_client
from streamproc.inference.experts import mix
from streamproc.inference.multihead import read_manifest
from streamproc.inference.predictor import position_limit
from streamproc.ingest.validate import Rejection, parse_article


class NaiveClassifier:
    """One `feature-extraction` pipeline (its own encoder copy) per task, the model's pooling and input prefix,
    the task's head."""

    def __init__(self, model_dir: Path, device: str, max_tokens: int) -> None:
        from transformers import AutoConfig, pipeline

        manifest = read_manifest(model_dir)
        tensors = load_file(str(model_dir / "heads.safetensors"))
        self.labels: dict[str, list[str]] = manifest["tasks"]
        self.experts = {task: len(domains) for task, domains in manifest.get("experts", {}).items()}
        self.prefix, self.pooling = manifest.get("input_prefix", ""), manifest.get("pooling", "mean")
        self.heads = {
            task: (tensors[f"heads.{task}.weight"].float(), tensors[f"heads.{task}.bias"].float())
            for task in self.labels
        }
        encoder = str(model_dir / "encoder")
        limit = position_limit(AutoConfig.from_pretrained(encoder, local_files_only=True), max_tokens)
        self.pipes = {
            task: pipeline(
                "feature-extraction",
                model=encoder,
                tokenizer=encoder,
                device=torch.device("cuda" if device == "cuda" else "cpu"),
                tokenize_kwargs={"truncation": True, "max_length": limit},
                return_tensors=True,
            )
            for task in self.labels
        }

    def classify(self, text: str) -> dict[str, tuple[str, float]]:
        """Task -> (label, margin uncertainty) for one text: one encoder pass per task."""
        out = {}
        for task, pipe in self.pipes.items():
            states = pipe(self.prefix + text)[0].float()
            pooled = states[0] if self.pooling == "cls" else states.mean(0)
            weight, bias = self.heads[task]
            logits = mix((weight @ pooled + bias).unsqueeze(0), self.experts.get(task, 0))[0]
            probs = torch.softmax(logits, dim=-1)
            top = probs.topk(min(2, len(probs))).values
            margin = 1.0 - float(top[0] - top[1]) if len(top) > 1 else 0.0
            out[task] = (self.labels[task][int(torch.argmax(probs))], margin)
        return out


def run_naive_consumer(
    settings: Settings, model_dir: Path, topic: str, n: int, device: str, review_threshold: float
) -> dict:
    """Consume `n` records of `topic` the naive way; articles/s from the first message to the last commit."""
    classifier = NaiveClassifier(model_dir, device, settings.max_tokens)
    consumer = KafkaConsumer(
        topic,
        **kafka_python_options(settings),
        group_id="bench-naive",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=1,
    )
    es, redis = elasticsearch_client(settings), redis_client(settings)
    index, review_key = f"naive-{settings.es_index}", "{bench:naive}:pending"
    done, started = 0, None
    try:
        with tqdm(total=n, desc="naive consumer", unit=" art", leave=False) as bar:
            for message in consumer:
                started = started or time.perf_counter()
                article = parse_article(message.value, settings.max_article_bytes)
                if not isinstance(article, Rejection):
                    labels = classifier.classify(article.text)
                    document = {
                        "id": article.id,
                        "title": article.title,
                        **{task: {"label": label, "uncertainty": u} for task, (label, u) in labels.items()},
                        "processed_at": datetime.now(UTC).isoformat(),
                    }
                    es.index(index=index, id=article.id, document=document)
                    uncertainty = max(u for _, u in labels.values())
                    if uncertainty >= review_threshold:
                        redis.zadd(review_key, {article.id: uncertainty}, nx=True)
                        redis.hset(review_key + ":items", article.id, json.dumps(document, ensure_ascii=False))
                consumer.commit()
                done += 1
                bar.update()
                if done >= n:
                    break
        seconds = time.perf_counter() - (started or time.perf_counter())
    finally:
        consumer.close()
        es.close()
        redis.close()
    return {"articles": done, "seconds": round(seconds, 3), "articles_per_second": round(done / seconds, 2)}
