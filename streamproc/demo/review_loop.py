"""`streamproc demo --review`: the active-learning loop once, after the main job, with its own numbers.

A scripted reviewer drains the review queue, labelling each sample article's topic with the section its URL
names (`/news/sports/...`); `retrain` builds a candidate from those labels and the base data and gates it; when
promoted, the samples are published again (a re-crawl: same ids) and a worker labels them with the new
version. Before/after topic accuracy against the URL sections is printed, split into articles a reviewer
labelled and trained on, reviewed articles held out of training, and articles never queued.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from streamproc.config import Settings
from streamproc.connections import elasticsearch_client
from streamproc.ingest.article import Article
from streamproc.ingest.validate import parse_article
from streamproc.publish.reader import read_records
from streamproc.review.service import ReviewService
from streamproc.sinks.document import EnrichedArticle

REVIEWER = "demo-reviewer"
SECTION = re.compile(r"/(politics|economy|society|culture|world|it|sports|entertainment)/")


def sections(samples: Path, max_bytes: int) -> tuple[dict[str, str], list[bytes]]:
    """Article id -> the section its URL names, and the valid records (to publish again)."""
    found: dict[str, str] = {}
    valid: list[bytes] = []
    for raw in read_records(str(samples)):
        article = parse_article(raw, max_bytes)
        if isinstance(article, Article):
            valid.append(raw)
            match = SECTION.search(article.url or "")
            if match:
                found[article.id] = match.group(1)
    return found, valid


def scripted_review(service: ReviewService, truth: dict[str, str]) -> tuple[set[str], int]:
    """Claim everything; label the topic of sample articles from their section. Returns (labelled ids, agreed)."""
    seen: set[str] = set()
    labelled: set[str] = set()
    agreed = 0
    while True:
        items = [item for item in service.desk.claim(REVIEWER, 20) if item.id not in seen]
        if not items:
            break
        for item in items:
            seen.add(item.id)
            section = truth.get(item.id)
            if section and section in item.labels("topic"):
                outcome = service.label(item.id, REVIEWER, {"topic": section})
                labelled.add(item.id)
                agreed += int((outcome.record or {}).get("model", {}).get("topic", {}).get("label") == section)
            else:
                service.skip(item.id, REVIEWER)  # not a sample, or a section the model has no label for
    for held in service.desk.claim(REVIEWER, 100):  # give back what came round again
        service.skip(held.id, REVIEWER)
    return labelled, agreed


def topic_labels(settings: Settings, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Per article id: the topic label, its model version and label source, from Elasticsearch."""
    es = elasticsearch_client(settings)
    try:
        es.indices.refresh(index=settings.es_index)
        hits = es.search(index=settings.es_index, query={"ids": {"values": ids}}, size=max(len(ids), 1))
    finally:
        es.close()
    documents = {hit["_id"]: EnrichedArticle.model_validate(hit["_source"]) for hit in hits["hits"]["hits"]}
    return {
        doc_id: {
            "topic": doc.topic.label,
            "version": doc.model_versions["topic"],
            "label_source": doc.label_source or "model",
        }
        for doc_id, doc in documents.items()
    }


def accuracy(docs: dict[str, dict[str, Any]], truth: dict[str, str], ids: set[str]) -> tuple[str, int]:
    """Topic accuracy over `ids` (as text) and how many there were."""
    scored = [docs[i]["topic"] == truth[i] for i in ids if i in docs]
    return (f"{sum(scored) / len(scored):.3f}" if scored else "-"), len(scored)


def run_review_loop(settings: Settings, samples: Path, console: Console, run_worker) -> None:
    """Steps 6-9 of `streamproc demo --review` (`run_worker` runs a worker until the topic is drained)."""
    from streamproc.publish.publisher import publish
    from streamproc_models.retrain import HOLDOUT_FRACTION, in_holdout, retrain

    truth, valid = sections(samples, settings.max_article_bytes)
    before = topic_labels(settings, list(truth))
    console.rule("review 1/4: a scripted reviewer drains the review queue")
    service = ReviewService.from_settings(settings)
    try:
        labelled, agreed = scripted_review(service, truth)
        console.print(
            f"  {len(labelled)} articles labelled from their URL section; the model had {agreed} of them right"
        )
        console.rule("review 2/4: retrain from the reviews, with the evaluation gate")
        result = retrain(settings, service.desk, say=lambda line: console.print(Text(f"  {line}")))
    finally:
        service.close()
    table = Table("task", "measure", "serving", "candidate", title="evaluation gate")
    for task, row in result.serving.items():
        for key in ("val_macro_f1", "reviewed_holdout_accuracy"):
            old, new = row[key], result.candidate[task][key]
            table.add_row(task, key, "-" if old is None else f"{old:.4f}", "-" if new is None else f"{new:.4f}")
    console.print(table)
    for check in result.checks:
        console.print(Text(f"  {check}"))
    console.print(Text(f"  decision: {result.as_card()['decision']}"))
    if not result.promoted:
        console.print("  the serving model stays; label more articles and run `streamproc retrain` again")
        return
    console.rule("review 3/4: the samples again (a re-crawl: same ids), labelled by the new version")
    publish(settings, valid, progress=False)
    run_worker(settings, console)
    after = topic_labels(settings, list(truth))
    console.rule("review 4/4: before and after, against the samples' URL sections")
    held_out = {i for i in labelled if in_holdout(i, HOLDOUT_FRACTION)}
    groups = {
        "all samples with a section": set(truth),
        "reviewed, trained on": labelled - held_out,
        "reviewed, held out (not trained on)": held_out,
        "never queued (model was sure)": set(truth) - labelled,
    }
    comparison = Table("topic accuracy", "before", "after", "articles")
    for name, ids in groups.items():
        (was, n), (now, _) = accuracy(before, truth, ids), accuracy(after, truth, ids)
        comparison.add_row(name, was, now, str(n))
    versions = [", ".join(sorted({d["version"] for d in docs.values()})) for docs in (before, after)]
    comparison.add_row("model version", *versions, "")
    console.print(comparison)
    kept = sum(1 for i in labelled if after.get(i, {}).get("label_source") == "reviewed")
    console.print(f"  reviews kept through the re-crawl: {kept} of {len(labelled)}")
