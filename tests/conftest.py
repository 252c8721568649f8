"""Session-wide real servers and tiny models; every test gets its own topics, index, group and queue keys."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis.configuration import set_hypothesis_home_dir

from streamproc.config import Settings
from tests.servers import Noida, Valkey, free_port
from tests.tiny_models import build_multihead

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Hypothesis keeps its caches (Unicode tables, constants) in ./.hypothesis unless told: not in the repository
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "streamproc-tests-hypothesis")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


@pytest.fixture(scope="session")
def noida(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Noida]:
    """Kafka protocol + Elasticsearch API server for the whole session."""
    server = Noida(tmp_path_factory.mktemp("noida"), free_port(), free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def valkey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Valkey]:
    """Redis protocol server for the whole session."""
    server = Valkey(tmp_path_factory.mktemp("valkey"), free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny multi-head (topic + sentiment) model folder."""
    return build_multihead(tmp_path_factory.mktemp("models") / "tiny", seed=3)


@pytest.fixture
def stack_env(noida: Noida, valkey: Valkey, tiny_model_dir: Path, tmp_path: Path) -> dict[str, str]:
    """STREAMPROC_* variables pointing at the session servers, with names unique to this test."""
    name = f"t{uuid.uuid4().hex[:8]}"
    return {
        "STREAMPROC_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{noida.kafka_port}",
        "STREAMPROC_ES_URL": f"http://127.0.0.1:{noida.es_port}",
        "STREAMPROC_REDIS_URL": f"redis://127.0.0.1:{valkey.port}/0",
        "STREAMPROC_TOPIC_RAW": f"{name}.raw",
        "STREAMPROC_TOPIC_DEADLETTER": f"{name}.deadletter",
        "STREAMPROC_TOPIC_RELABEL": f"{name}.relabel",
        "STREAMPROC_TOPIC_PARTITIONS": "3",
        "STREAMPROC_ES_INDEX": f"{name}-news",
        "STREAMPROC_CONSUMER_GROUP": f"{name}-group",
        "STREAMPROC_REVIEW_KEY_PREFIX": f"{name}:review",
        "STREAMPROC_MULTITASK_MODEL_DIR": str(tiny_model_dir),
        "STREAMPROC_STACK_DIR": str(tmp_path / "stack"),
        "STREAMPROC_MODEL_STORE": str(tmp_path / "model-store"),
        "STREAMPROC_WEB_PORT": str(free_port()),
        "STREAMPROC_KAFKA_SESSION_TIMEOUT": "6",
        "STREAMPROC_SINK_RETRY_INITIAL": "0.2",
        "STREAMPROC_SINK_RETRY_MAX": "1.0",
    }


@pytest.fixture
def settings(stack_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings for this test, also exported to the environment for child processes."""
    for key, value in stack_env.items():
        monkeypatch.setenv(key, value)
    return Settings()
