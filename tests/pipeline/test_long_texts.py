"""Publisher text that once stopped the worker, through the real worker process (issue 21).

- Valid records whose texts are long runs of what the text patterns read (`tests.hostile.long_text_articles`):
  a title of 200,000 letters and "@" held the event loop for about 100 s (the e-mail pattern backtracked, on
  the loop): `/health` did not answer, heartbeats and the stall monitor stood still. Now every one is indexed
  as it is and `/health` answers within `PROBE_BOUND` all along.
- DNS rebinding: the worker's web server answered any `Host`; now a name it does not know gets HTTP 400.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from streamproc.config import Settings
from streamproc.ingest.article import Article
from streamproc.publish.publisher import publish
from tests.hostile import long_text_articles
from tests.pipeline.harness import (
    WorkerProcess,
    dead_letters,
    encode,
    indexed_documents,
    make_articles,
    provision,
    size,
    wait_until_processed,
)

# `/health` reads a dict: it answers in milliseconds. 1 s leaves a loaded 2-core CI machine a wide margin and is
# still 100 times shorter than the stall the long title caused.
PROBE_BOUND = 1.0


class HealthProbes(threading.Thread):
    """GET /health every 0.1 s until stopped; the answer time of each (a timeout counts as 5 s)."""

    def __init__(self, worker: WorkerProcess) -> None:
        super().__init__(daemon=True)
        self.worker = worker
        self.seconds: list[float] = []
        self.statuses: list[int] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            start = time.monotonic()
            try:
                status, _ = self.worker.get("/health", timeout=5)
            except OSError:
                status = 0
            self.seconds.append(time.monotonic() - start)
            self.statuses.append(status)
            self.done.wait(0.1)

    def stop(self) -> None:
        self.done.set()
        self.join(timeout=10)

    def summary(self) -> str:
        """What the probes saw, in one line."""
        timed_out = sum(status == 0 for status in self.statuses)
        slowest = max(self.seconds, default=0.0)
        return f"/health: {len(self.seconds)} probes, {timed_out} unanswered in 5 s, slowest {slowest:.2f}s"


@pytest.mark.slow
def test_long_texts_are_indexed_and_health_keeps_answering(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STREAMPROC_BATCH_SIZE", "8")
    settings = Settings()
    provision(settings)
    copies = size(2, 8)
    long = [{**record, "id": f"{record['id']}-{copy}"} for copy in range(copies) for _, record in long_text_articles()]
    good = make_articles(60, seed=21)
    records = [encode(a) for a in good]
    for i, article in enumerate(long):  # spread them over the stream, so every partition gets some
        records.insert((i * 7) % len(records), encode(article))
    ids = {Article.model_validate(a).id for a in good + long}

    worker = WorkerProcess(tmp_path / "worker.log").start()
    probes = HealthProbes(worker)
    probes.start()
    try:
        started = time.monotonic()
        assert publish(settings, records, progress=False).sent == len(records)
        try:
            wait_until_processed(settings, len(records), timeout=size(180, 600))
        except AssertionError as exc:
            probes.stop()
            raise AssertionError(f"{exc}; {probes.summary()}") from None
        seconds = time.monotonic() - started
        probes.stop()
        assert worker.process is not None and worker.process.poll() is None
    finally:
        probes.stop()
        worker.stop()

    docs = indexed_documents(settings)
    assert set(docs) == ids and not dead_letters(settings)
    assert all(docs[a["id"]]["title"] == a["title"].strip() for a in long)  # as they are (stripped, as always)
    assert len(probes.seconds) >= 5, probes.seconds
    slowest = max(probes.seconds)
    assert slowest < PROBE_BOUND and set(probes.statuses) <= {200, 503}, probes.summary()
    assert "Traceback" not in worker.log()
    largest = max(len(encode(article)) for article in long)
    with capsys.disabled():
        print(
            f"\n[fault test] long texts: {len(long)} records of up to {largest:,} bytes "
            f"({len(long_text_articles())} shapes) among {len(good)} good, all indexed in {seconds:.1f}s; "
            f"/health answered {len(probes.seconds)} probes, slowest {slowest * 1000:.0f} ms "
            f"(median {sorted(probes.seconds)[len(probes.seconds) // 2] * 1000:.0f} ms, bound {PROBE_BOUND:.0f} s)"
        )


@pytest.mark.slow
def test_the_worker_web_server_refuses_a_rebound_host(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    provision(settings)
    worker = WorkerProcess(tmp_path / "worker.log").start()
    try:
        port = worker.web_port()
        own = {host: worker.get("/health", host=host)[0] for host in (f"127.0.0.1:{port}", f"localhost:{port}")}
        rebound = {path: worker.get(path, host=f"evil.example:{port}") for path in ("/health", "/metrics", "/")}
    finally:
        worker.stop()
    assert set(own.values()) <= {200, 503}, own
    assert {status for status, _ in rebound.values()} == {400}, rebound
    assert all("STREAMPROC_ALLOWED_HOSTS" in body and "\n" not in body for _, body in rebound.values()), rebound
    with capsys.disabled():
        print(
            f"\n[fault test] worker web server: Host 127.0.0.1/localhost -> {sorted(set(own.values()))}, "
            f"Host evil.example on /health, /metrics, / -> {sorted({s for s, _ in rebound.values()})}"
        )
