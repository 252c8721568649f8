"""What the review queue keeps of an article: what a reviewer needs to see, and the text the models read.

`text` is the exact model input the worker built (`Article.text`), so `retrain` and `review export` learn from
what the serving model reads, not from a text rebuilt from the summary's shortened body.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

BODY_EXCERPT = 2000  # characters of the body shown to the reviewer
SUMMARY_FIELDS = ("id", "url", "title", "source", "lang", "published_at", "uncertainty", "model_versions")


def review_summary(document: Mapping[str, Any], text: str, tasks: Iterable[str], audit: bool = False) -> dict[str, Any]:
    """The queue item of an enriched document (as written to Elasticsearch), `text` the model input; `audit`
    marks an article of the audit sample (reviewed blind: the model's answers are kept, never shown)."""
    summary: dict[str, Any] = {key: document.get(key) for key in SUMMARY_FIELDS}
    if audit:
        summary["audit"] = True
    if document.get("story_id"):  # its near-duplicate story (`streamproc.review.stories`)
        summary["story_id"] = document["story_id"]
    summary["body"] = (document.get("body") or "")[:BODY_EXCERPT]
    summary["text"] = text
    for task in tasks:
        result = document.get(task)
        if result:
            summary[task] = {"label": result["label"], "score": result["score"]}
            if "probabilities" in result:
                summary[task]["probabilities"] = result["probabilities"]
    summary["queued_at"] = document["processed_at"]
    return summary


def model_input(summary: Mapping[str, Any]) -> str:
    """The text the models read for a queue item; items queued before the text was kept rebuild it."""
    from streamproc.ingest.model_text import model_text

    text = summary.get("text")
    return text if isinstance(text, str) else model_text(summary.get("title") or "", summary.get("body") or "")
