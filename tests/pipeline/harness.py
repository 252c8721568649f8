"""Drive the real worker process against the session servers and read back what it wrote."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch
from kafka import KafkaConsumer, TopicPartition

from streamproc.config import Settings
from streamproc.connections import elasticsearch_client, kafka_python_options, redis_client
from streamproc.review.queue import ReviewKeys
from streamproc.stack.up import bring_up
from streamproc.worker.lag import LagMonitor

WORDS_KO = [
    "정부",
    "국회",
    "선거",
    "주가",
    "반도체",
    "수출",
    "경찰",
    "사건",
    "공연",
    "축제",
    "외교",
    "인공지능",
    "스마트폰",
]
WORDS_EN = ["government", "election", "market", "stocks", "chips", "police", "concert", "diplomacy", "ai", "phone"]
TONES = ["good", "bad", "record", "growth", "loss", "accident", "award", "rescue", "layoffs"]


def make_articles(count: int, seed: int = 0, prefix: str = "art") -> list[dict[str, Any]]:
    """Valid articles with varied Korean and English text; every 10th has no id (derived from its URL)."""
    rng = random.Random(seed)
    articles = []
    for i in range(count):
        words = WORDS_KO if i % 3 else WORDS_EN
        article: dict[str, Any] = {
            "id": f"{prefix}-{i:05d}",
            "url": f"https://news.example.com/{prefix}/{i}",
            "title": " ".join(rng.choices(words, k=rng.randint(2, 6))),
            "body": " ".join(rng.choices(words + TONES, k=rng.randint(5, 30))),
            "source": rng.choice(["한빛일보", "Example Daily"]),
            "published_at": f"2026-11-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:15:00+09:00",
            "lang": "en" if words is WORDS_EN else "ko",
            "section_hint": rng.choice(["a", "b"]),
        }
        if i % 10 == 0:
            del article["id"]
        articles.append(article)
    return articles


def encode(article: dict[str, Any]) -> bytes:
    """One JSON line as a publisher would send it."""
    return json.dumps(article, ensure_ascii=False).encode("utf-8")


def provision(settings: Settings) -> None:
    """Create this test's topics and index on the session servers."""
    bring_up(settings)


FULL_SIZE = os.environ.get("STREAMPROC_FAULT_TESTS_FULL") == "1"


def size(ci: int, full: int) -> int:
    """A fault test's corpus size or duration: small in CI, the issue's size with STREAMPROC_FAULT_TESTS_FULL=1."""
    return full if FULL_SIZE else ci


class WorkerProcess:
    """`python -m streamproc worker` as a child process with its log in a file."""

    def __init__(self, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.log_path = log_path
        self.env = env or {}
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 120.0) -> WorkerProcess:
        """Start and wait until Faust reports the worker ready."""
        return self.launch().wait_ready(timeout)

    def launch(self) -> WorkerProcess:
        """Start the process without waiting (to start several workers at once)."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streamproc", "worker"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
            )
        return self

    def wait_ready(self, timeout: float = 120.0) -> WorkerProcess:
        """Wait until Faust reports the worker ready."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while "Worker]: Ready" not in self.log():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"worker did not become ready:\n{self.log()[-3000:]}")
            time.sleep(0.2)
        return self

    def log(self) -> str:
        """Everything the worker printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self, sig: signal.Signals = signal.SIGKILL) -> None:
        """Send a signal and wait for the process to end."""
        assert self.process is not None
        self.process.send_signal(sig)
        self.process.wait(timeout=60)

    def stop(self) -> None:
        """Graceful stop (SIGTERM), forced after a minute."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()

    @staticmethod
    def stop_all(*workers: WorkerProcess) -> None:
        """Stop several workers at once (a graceful Faust shutdown takes seconds each)."""
        running = [w.process for w in workers if w.process is not None and w.process.poll() is None]
        for process in running:
            process.terminate()
        for process in running:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()

    def web_port(self) -> int:
        """The port of this worker's web server (`/metrics`, `/health`)."""
        return int(self.env.get("STREAMPROC_WEB_PORT") or os.environ["STREAMPROC_WEB_PORT"])

    def get(self, path: str, host: str | None = None, timeout: float = 10) -> tuple[int, str]:
        """HTTP GET on the worker's web server: (status, body); `host` replaces the `Host` header."""
        url = f"http://127.0.0.1:{self.web_port()}{path}"
        request = urllib.request.Request(url, headers={"Host": host} if host else {})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()


def metric_samples(exposition: str) -> dict[str, float]:
    """Prometheus text format -> {'name{label="v",...}': value} (labels as printed)."""
    samples = {}
    for line in exposition.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def wait_for(condition, what: str, timeout: float = 60.0, interval: float = 0.2):
    """Poll `condition()` until it returns something truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
    return result


def wait_until_processed(settings: Settings, expected_total: int, timeout: float = 180.0) -> None:
    """Block until the raw topic holds `expected_total` records and the group acknowledged all of them."""
    monitor = LagMonitor(settings)
    try:
        deadline = time.monotonic() + timeout
        while True:
            progress = monitor.progress()
            if sum(progress.end.values()) >= expected_total and progress.lag == 0:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"not processed in {timeout}s: {progress}")
            time.sleep(0.3)
    finally:
        monitor.close()


def indexed_documents(settings: Settings) -> dict[str, dict[str, Any]]:
    """Every document in the test's index, by `_id`."""
    es: Elasticsearch = elasticsearch_client(settings)
    try:
        es.indices.refresh(index=settings.es_index)
        hits = es.search(index=settings.es_index, size=10000, query={"match_all": {}})["hits"]["hits"]
        return {hit["_id"]: hit["_source"] for hit in hits}
    finally:
        es.close()


def index_count(settings: Settings) -> int:
    """Number of documents in the index (after a refresh)."""
    es = elasticsearch_client(settings)
    try:
        es.indices.refresh(index=settings.es_index)
        return int(es.count(index=settings.es_index)["count"])
    finally:
        es.close()


def dead_letters(settings: Settings) -> list[dict[str, Any]]:
    """Every envelope on the dead-letter topic."""
    consumer = KafkaConsumer(
        **kafka_python_options(settings),
        auto_offset_reset="earliest",
        consumer_timeout_ms=2000,
        enable_auto_commit=False,
    )
    topic = settings.topic_deadletter
    consumer.assign([TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []])
    letters = [json.loads(message.value) for message in consumer]
    consumer.close()
    return letters


def review_queue_state(settings: Settings) -> tuple[dict[str, float], set[str]]:
    """(pending id -> priority, ids with a stored summary) of the test's review queue."""
    client = redis_client(settings)
    keys = ReviewKeys.for_prefix(settings.review_key_prefix)
    pending = {m.decode(): s for m, s in client.zrange(keys.pending, 0, -1, withscores=True)}
    items = {k.decode() for k in client.hkeys(keys.items)}
    client.close()
    return pending, items


def raw_records(settings: Settings) -> dict[tuple[int, int], bytes]:
    """Every record of the raw topic by (partition, offset)."""
    consumer = KafkaConsumer(
        **kafka_python_options(settings),
        auto_offset_reset="earliest",
        consumer_timeout_ms=2000,
        enable_auto_commit=False,
        fetch_max_bytes=8 * 1024 * 1024,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    topic = settings.topic_raw
    consumer.assign([TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []])
    records = {(m.partition, m.offset): m.value for m in consumer}
    consumer.close()
    return records
