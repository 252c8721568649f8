"""Faults during a run, on real servers: SIGKILLs, Elasticsearch and Redis outages, a broker restart, two workers
with one killed (stall detection and the documented recovery). Small in CI; the issue's sizes and outage lengths
with STREAMPROC_FAULT_TESTS_FULL=1. Each test prints what it did and what it counted.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from streamproc.config import Settings
from streamproc.ingest.article import Article
from streamproc.publish.publisher import publish
from tests.pipeline.harness import (
    WorkerProcess,
    encode,
    index_count,
    indexed_documents,
    make_articles,
    metric_samples,
    provision,
    review_queue_state,
    size,
    wait_for,
    wait_until_processed,
)
from tests.servers import Noida, Valkey, free_port

INDEXED_LINE = re.compile(r"batch of \d+: (\d+) indexed")


def _wait_for_count(settings: Settings, at_least: int, timeout: float = 120.0) -> int:
    deadline = time.monotonic() + timeout
    while (count := index_count(settings)) < at_least:
        assert time.monotonic() < deadline, f"only {count} documents after {timeout}s"
        time.sleep(0.05)
    return count


def _configure(monkeypatch: pytest.MonkeyPatch, batch_size: str, **extra: str) -> Settings:
    monkeypatch.setenv("STREAMPROC_BATCH_SIZE", batch_size)
    monkeypatch.setenv("STREAMPROC_REVIEW_THRESHOLD", "0.9")
    for name, value in extra.items():
        monkeypatch.setenv(f"STREAMPROC_{name.upper()}", value)
    settings = Settings()
    provision(settings)
    return settings


def _publish(settings: Settings, count: int) -> set[str]:
    articles = make_articles(count, seed=7)
    publish(settings, [encode(a) for a in articles], progress=False)
    return {Article.model_validate(a).id for a in articles}


def _start(settings: Settings, count: int, batch_size: str, monkeypatch, **extra: str) -> tuple[set[str], Settings]:
    settings = _configure(monkeypatch, batch_size, **extra)
    return _publish(settings, count), settings


def _check_sinks_agree(settings: Settings, ids: set[str]) -> tuple[int, int]:
    """Each id indexed once; the review queue holds exactly the documents that need review."""
    docs = indexed_documents(settings)
    assert set(docs) == ids  # each id exactly once: _id is the article id
    pending, items = review_queue_state(settings)
    assert set(pending) == items == {i for i, d in docs.items() if d["needs_review"]}
    return len(docs), len(pending)


def _caught_up(scrape: str) -> dict[str, float] | None:
    """The scrape's samples once every partition's lag gauge reads 0, else None."""
    samples = metric_samples(scrape)
    lags = [value for name, value in samples.items() if name.startswith("streamproc_consumer_lag{")]
    return samples if lags and not any(lags) else None


def _indexed_by_workers(*workers: WorkerProcess) -> int:
    """Documents the workers' batch log lines say they indexed, replays included."""
    return sum(int(n) for worker in workers for n in INDEXED_LINE.findall(worker.log()))


def _report(capsys: pytest.CaptureFixture[str], what: str, **counted: object) -> None:
    with capsys.disabled():
        print(f"\n[fault test] {what}: " + ", ".join(f"{key}={value}" for key, value in counted.items()))


def _cli(*commands: list[str]) -> list[tuple[int, str]]:
    """Run `streamproc` commands side by side; (exit code, stdout + stderr) of each."""
    runs = [
        subprocess.Popen([sys.executable, "-m", "streamproc", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for args in commands
    ]
    return [(run.wait(timeout=120), run.stdout.read().decode() if run.stdout else "") for run in runs]


@pytest.mark.slow
def test_sigkill_five_times_loses_nothing(settings, tmp_path: Path, monkeypatch, capsys) -> None:
    # Static membership: the restarted worker takes the killed one's partitions back at once. Without it,
    # real Kafka moves them after the session timeout, but the stand-in broker never expires a dead member.
    monkeypatch.setenv("STREAMPROC_WORKER_INSTANCE_ID", "worker-1")
    kills, count = 5, size(600, 3000)
    ids, settings = _start(settings, count, "5", monkeypatch)
    step = count // 12
    at_kills: list[int] = []
    workers = []
    for run in range(kills):
        worker = WorkerProcess(tmp_path / f"run-{run}.log").start()
        workers.append(worker)
        try:
            at_kills.append(_wait_for_count(settings, (at_kills[-1] if at_kills else 0) + step))
            worker.kill(signal.SIGKILL)
        finally:
            worker.stop()
        assert worker.process is not None and worker.process.returncode == -signal.SIGKILL
    assert at_kills[-1] < len(ids), "the workers finished before the last kill"

    last = WorkerProcess(tmp_path / "last.log").start()
    workers.append(last)
    try:
        wait_until_processed(settings, len(ids))
    finally:
        last.stop()
    indexed, queued = _check_sinks_agree(settings, ids)
    handled = _indexed_by_workers(*workers)
    assert handled >= count
    _report(
        capsys,
        f"published {count}, SIGKILLed the worker {kills} times",
        indexed_at_kills=at_kills,
        documents=indexed,
        review_queue=queued,
        indexing_incl_replays=handled,
        replayed=handled - count,
    )


@pytest.mark.slow
def test_sink_outages_hold_offsets_and_show_in_metrics(
    settings, noida: Noida, tmp_path: Path, monkeypatch, capsys
) -> None:
    # A private, durable Valkey: this test kills it, and the review queue must survive the kill.
    redis = Valkey(tmp_path / "valkey", free_port(), durable=True)
    redis.start()
    monkeypatch.setenv("STREAMPROC_REDIS_URL", f"redis://127.0.0.1:{redis.port}/0")
    outage, count = size(4, 30), size(400, 3000)
    ids, settings = _start(settings, count, "10", monkeypatch, stall_after="2")
    worker = WorkerProcess(tmp_path / "worker.log").start()
    try:
        before_es = _wait_for_count(settings, 50)
        noida.service("stop", "elasticsearch")
        try:
            time.sleep(outage)  # the worker keeps retrying meanwhile; its partitions stop moving
            assert "Elasticsearch bulk index failed" in worker.log()
            assert worker.process is not None and worker.process.poll() is None
            health = wait_for(lambda: (s := worker.get("/health"))[0] == 503 and s[1], "/health to say stalled")
            assert json.loads(health)["status"] == "stalled"
            assert "this worker holds it" in worker.log()
            during = metric_samples(worker.get("/metrics")[1])  # the series move during the run, not only after it
            assert during['streamproc_sink_retries_total{sink="elasticsearch"}'] >= 1
            assert during["streamproc_stalled_partitions"] >= 1
            assert 0 < during["streamproc_records_processed_total"] < count
        finally:
            noida.service("start", "elasticsearch")
        before_redis = _wait_for_count(settings, index_count(settings) + 50)
        redis.kill()
        try:
            time.sleep(outage)
            # the first of the batch's Redis steps to meet the outage retries (budget, story index or queue write)
            assert re.search(r"Redis (review budget|story index|review queue) failed \(attempt", worker.log())
            assert worker.process.poll() is None
        finally:
            redis.start()
        wait_until_processed(settings, len(ids))
        wait_for(lambda: worker.get("/health")[0] == 200, "/health to be OK again")
        # the group-wide gauges (lag, queue depth) are refreshed by the worker's monitor: wait for a scrape taken
        # after the last commit
        metrics = wait_for(lambda: _caught_up(worker.get("/metrics")[1]), "/metrics to show no lag")
        indexed, queued = _check_sinks_agree(settings, ids)
    finally:
        worker.stop()
        redis.stop()
    topic = settings.topic_raw
    assert metrics["streamproc_records_processed_total"] == count
    assert metrics["streamproc_articles_indexed_total"] == count
    batches = metrics["streamproc_batches_processed_total"]
    assert metrics["streamproc_batch_size_records_count"] == batches
    assert metrics["streamproc_batch_size_records_sum"] == count
    assert metrics["streamproc_batch_duration_seconds_count"] == batches
    assert metrics["streamproc_inference_duration_seconds_count"] >= batches
    assert metrics['streamproc_sink_retries_total{sink="elasticsearch"}'] >= 1
    redis_steps = ("redis", "Redis review budget", "Redis story index")
    redis_retries = sum(metrics.get(f'streamproc_sink_retries_total{{sink="{step}"}}', 0) for step in redis_steps)
    assert redis_retries >= 1
    for sink in ("elasticsearch", "redis"):
        assert metrics[f'streamproc_sink_duration_seconds_count{{sink="{sink}"}}'] == batches
    assert metrics["streamproc_review_queued_total"] == queued
    assert metrics["streamproc_review_queue_depth"] == queued
    assert metrics['streamproc_model_info{sentiment="tiny-3",topic="tiny-3"}'] == 1
    for partition in range(settings.topic_partitions):
        assert metrics[f'streamproc_consumer_lag{{partition="{partition}",topic="{topic}"}}'] == 0
        assert metrics[f'streamproc_partition_stalled{{partition="{partition}",topic="{topic}"}}'] == 0
    assert metrics["streamproc_stalled_partitions"] == 0
    _report(
        capsys,
        f"published {count}; Elasticsearch stopped {outage}s after {before_es} documents, "
        f"Valkey SIGKILLed {outage}s after {before_redis}",
        documents=indexed,
        review_queue=queued,
        batches=int(batches),
        es_retries=int(metrics['streamproc_sink_retries_total{sink="elasticsearch"}']),
        redis_retries=int(redis_retries),
    )


@pytest.mark.slow
def test_broker_restart_the_worker_reconnects(settings, noida: Noida, tmp_path: Path, monkeypatch, capsys) -> None:
    down, count = size(3, 20), size(400, 3000)
    ids, settings = _start(settings, count, "10", monkeypatch, log_format="json")  # logs as a shipper reads them
    worker = WorkerProcess(tmp_path / "worker.log").start()
    try:
        at_restart = _wait_for_count(settings, 50)
        noida.service("stop", "kafka")
        time.sleep(down)
        noida.service("start", "kafka")
        restarted = time.monotonic()
        wait_until_processed(settings, len(ids), timeout=180)
        finished = time.monotonic() - restarted
        assert worker.process is not None and worker.process.poll() is None
        indexed, queued = _check_sinks_agree(settings, ids)
    finally:
        worker.stop()
    records = [json.loads(line) for line in worker.log().splitlines() if line.startswith("{")]
    batches = [r for r in records if r["logger"] == "streamproc.worker.batch" and r["level"] == "INFO"]
    assert sum(int(INDEXED_LINE.search(r["message"]).group(1)) for r in batches) >= count
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    _report(
        capsys,
        f"published {count}; Kafka stopped for {down}s after {at_restart} documents",
        documents=indexed,
        review_queue=queued,
        seconds_to_finish_after_restart=round(finished, 1),
        json_log_records=len(records),
    )


@pytest.mark.slow
def test_two_workers_one_killed_stall_detected_and_recovered(settings, tmp_path: Path, monkeypatch, capsys) -> None:
    count = size(400, 3000)
    settings = _configure(monkeypatch, "10", stall_after="5", topic_partitions="4")
    env_a = {"STREAMPROC_WORKER_INSTANCE_ID": "worker-a", "STREAMPROC_WEB_PORT": str(free_port())}
    env_b = {"STREAMPROC_WORKER_INSTANCE_ID": "worker-b", "STREAMPROC_WEB_PORT": str(free_port())}
    first = WorkerProcess(tmp_path / "a.log", env_a).launch()
    second = WorkerProcess(tmp_path / "b.log", env_b).launch()
    first.wait_ready()
    second.wait_ready()
    again = WorkerProcess(tmp_path / "a-again.log", env_a)
    try:
        ids = _publish(settings, count)
        at_kill = _wait_for_count(settings, 60)
        first.kill(signal.SIGKILL)
        killed = time.monotonic()
        # The surviving worker's stall detector notices the dead member's partitions: log, metric, /health.
        wait_for(lambda: "stalled: lag" in second.log(), "the stall warning in the surviving worker's log", 60)
        detected = time.monotonic() - killed
        status, health = second.get("/health")
        assert status == 503 and json.loads(health)["status"] == "stalled"
        stuck = {s["partition"]: s["lag"] for s in json.loads(health)["stalled"]}
        samples = metric_samples(second.get("/metrics")[1])
        stalled = int(samples["streamproc_stalled_partitions"])
        assert stalled >= 1 and sum(stuck.values()) > 0
        assert "no live member is moving it" in second.log()
        (lag_code, lag_out), (health_code, health_out) = _cli(["lag", "--window", "3"], ["health", "--window", "3"])
        assert lag_code == 1 and "STALLED" in lag_out, lag_out
        assert health_code == 1 and "not moving" in health_out, health_out
        assert "STREAMPROC_WORKER_INSTANCE_ID" in health_out

        # The documented recovery: start the killed worker again with the same instance id.
        again.start()
        wait_until_processed(settings, len(ids))
        recovered = time.monotonic() - killed
        wait_for(lambda: second.get("/health")[0] == 200, "/health to be OK again", 30)
        assert "is moving again" in second.log()
        assert _cli(["lag", "--window", "2"])[0][0] == 0
        indexed, queued = _check_sinks_agree(settings, ids)
    finally:
        WorkerProcess.stop_all(first, second, again)
    _report(
        capsys,
        f"two workers, {count} published, worker-a SIGKILLed after {at_kill} documents",
        stalled_partitions=stalled,
        lag_of_stalled_partitions=stuck,
        detected_after_s=round(detected, 1),
        all_processed_after_s=round(recovered, 1),
        documents=indexed,
        review_queue=queued,
    )
