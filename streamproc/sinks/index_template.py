"""The Elasticsearch index template for enriched articles: the one source of the mapping.

`deploy/elasticsearch/news-enriched.template.json` is this template written out for people who provision
Elasticsearch by hand; a test keeps the two equal.
"""

from __future__ import annotations

from typing import Any

LABEL = {"type": "keyword"}
SCORE = {"type": "float"}
# `cjk` ships with every Elasticsearch and indexes Hangul/Han as bigrams. Clusters with the analysis-nori
# plugin can switch `news_text` to the `nori` analyzer for Korean morphology.
TEXT = {"type": "text", "analyzer": "news_text"}


def _task_mapping() -> dict[str, Any]:
    return {"properties": {"label": LABEL, "score": SCORE, "probabilities": {"type": "object", "dynamic": True}}}


def review_mapping() -> dict[str, Any]:
    """Fields written by reviewers (`streamproc.review`): kept when the worker re-indexes the article."""
    return {
        "label_source": LABEL,  # model (never reviewed), reviewed, rejected
        "review": {
            "properties": {
                "decision": LABEL,
                "topic": LABEL,
                "sentiment": LABEL,
                "by": LABEL,
                "at": {"type": "date"},
                "agrees": {"properties": {"topic": {"type": "boolean"}, "sentiment": {"type": "boolean"}}},
                "model_versions": {"properties": {"topic": LABEL, "sentiment": LABEL}},
            }
        },
    }


def index_template(index: str) -> dict[str, Any]:
    """Template body for `PUT _index_template/<index>`, matching `<index>` and `<index>-*`."""
    return {
        "index_patterns": [index, f"{index}-*"],
        "priority": 200,
        "template": {
            "settings": {
                "number_of_shards": 1,
                "analysis": {"analyzer": {"news_text": {"type": "cjk"}}},
            },
            "mappings": {
                "dynamic": "strict",
                "dynamic_templates": [{"probabilities": {"path_match": "*.probabilities.*", "mapping": SCORE}}],
                "properties": {
                    "id": LABEL,
                    "url": LABEL,
                    "title": TEXT,
                    "body": TEXT,
                    "source": LABEL,
                    "published_at": {"type": "date"},
                    "lang": LABEL,
                    "extra": {"type": "object", "enabled": False},
                    "topic": _task_mapping(),
                    "sentiment": _task_mapping(),
                    "uncertainty": {
                        "properties": {"strategy": LABEL, "topic": SCORE, "sentiment": SCORE, "max": SCORE}
                    },
                    "needs_review": {"type": "boolean"},
                    "model_versions": {"properties": {"topic": LABEL, "sentiment": LABEL}},
                    "processed_at": {"type": "date"},
                    "kafka": {
                        "properties": {"topic": LABEL, "partition": {"type": "integer"}, "offset": {"type": "long"}}
                    },
                    **review_mapping(),
                },
            },
        },
    }
