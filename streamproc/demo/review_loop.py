"""`streamproc demo --review`: the active-learning loop once, after the main job, with its own numbers.

A scripted reviewer drains the review queue, labelling each sample article with what is known of it: its topic
is the section its URL names (`/news/sports/...`), its emotion is written down in `sample_emotions.tsv` (the
project's own labels of the samples). `retrain` builds a candidate from those labels and the base data and gates
it; when promoted, the samples are published again (a re-crawl: same ids) and a worker labels them with the new
version. Before/after accuracy per task against those labels is printed, split into articles a reviewer
labelled and trained on, reviewed articles held out of training, and articles never queued.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from streamproc.config import Settings
from streamproc.connections import elasticsearch_client
from streamproc.ingest.article import Article
from streamproc.ingest.validate import parse_article
from streamproc.plugins import training
from streamproc.publish.reader import read_records
from streamproc.review.service import ReviewService
from streamproc.sinks.document import document_model

REVIEWER = "demo-reviewer"
SECTION = re.compile(r"/(politics|economy|society|culture|world|it|sports|entertainment)/")
EMOTIONS = Path(__file__).with_name("sample_emotions.tsv")
Truth = dict[str, dict[str, str]]  # task -> article id -> label


def known_labels(samples: Path, max_bytes: int) -> tuple[Truth, list[bytes]]:
    """What is known of the sample articles (task -> id -> label), and the valid records (to publish again)."""
    topics: dict[str, str] = {}
    valid: list[bytes] = []
    for raw in read_records(str(samples)):
        article = parse_article(raw, max_bytes)
        if isinstance(article, Article):
            valid.append(raw)
            match = SECTION.search(article.url or "")
            if match:
                topics[article.id] = match.group(1)
    with EMOTIONS.open(encoding="utf-8", newline="") as handle:
        emotions = {row["id"]: row["emotion"] for row in csv.DictReader(handle, delimiter="\t")}
    return {"topic": topics, "emotion": emotions}, valid


def scripted_review(service: ReviewService, truth: Truth) -> tuple[set[str], dict[str, int]]:
    """Claim everything; label each sample with what is known of it. Returns (labelled ids, model agreed per task)."""
    tasks = service.desk.tasks
    seen: set[str] = set()
    labelled: set[str] = set()
    agreed = {task: 0 for task in truth}
    while True:
        items = [item for item in service.desk.claim(REVIEWER, 20) if item.id not in seen]
        if not items:
            break
        for item in items:
            seen.add(item.id)
            labels = {
                task: known[item.id]
                for task, known in truth.items()
                if item.id in known and task in tasks.reviewed and known[item.id] in tasks[task].label_names
            }
            if labels:
                service.label(item.id, REVIEWER, labels)
                labelled.add(item.id)
                for task, label in labels.items():
                    agreed[task] += int(item.model_label(task) == label)
            else:
                service.skip(item.id, REVIEWER)  # not a sample, or nothing known of it
    for held in service.desk.claim(REVIEWER, 100):  # give back what came round again
        service.skip(held.id, REVIEWER)
    return labelled, agreed


def stored_labels(settings: Settings, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Per article id: each task's label and model version, and the label source, from Elasticsearch."""
    es = elasticsearch_client(settings)
    try:
        es.indices.refresh(index=settings.es_index)
        hits = es.search(index=settings.es_index, query={"ids": {"values": ids}}, size=max(len(ids), 1))
    finally:
        es.close()
    model = document_model(settings.tasks.names)
    stored = {}
    for hit in hits["hits"]["hits"]:
        doc = model.model_validate(hit["_source"])
        labels = {task: (p.label if (p := doc.prediction(task)) else None) for task in settings.tasks.names}
        stored[hit["_id"]] = {
            "labels": labels,
            "versions": doc.model_versions,
            "label_source": doc.label_source or "model",
        }
    return stored


def accuracy(docs: dict[str, dict[str, Any]], known: dict[str, str], task: str, ids: set[str]) -> tuple[str, int]:
    """Accuracy of `task` over the `ids` whose label is known (as text) and how many there were."""
    scored = [docs[i]["labels"][task] == known[i] for i in ids if i in docs and i in known]
    return (f"{sum(scored) / len(scored):.3f}" if scored else "-"), len(scored)


def run_review_loop(
    settings: Settings, samples: Path, console: Console, run_worker: Callable[[Settings, Console], None]
) -> None:
    """Steps 6-9 of `streamproc demo --review` (`run_worker` runs a worker until the topic is drained)."""
    from streamproc.publish.publisher import publish

    truth, valid = known_labels(samples, settings.max_article_bytes)
    ids = sorted({i for known in truth.values() for i in known})
    before = stored_labels(settings, ids)
    console.rule("review 1/4: a scripted reviewer drains the review queue")
    service = ReviewService.from_settings(settings)
    try:
        labelled, agreed = scripted_review(service, truth)
        said = ", ".join(f"{task} {n}" for task, n in agreed.items())
        console.print(f"  {len(labelled)} articles labelled from what is known of them; the model was right: {said}")
        console.rule("review 2/4: retrain from the reviews, with the evaluation gate")
        result = training().retrain(settings, service.desk, say=lambda line: console.print(Text(f"  {line}")))
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
    after = stored_labels(settings, ids)
    console.rule("review 4/4: before and after, against what is known of the samples")
    held_out = labelled & result.held_out_ids
    groups = {
        "all samples": set(ids),
        "reviewed, trained on": labelled - held_out,
        "reviewed, held out (not trained on)": held_out,
        "never queued (model was sure)": set(ids) - labelled,
    }
    comparison = Table("accuracy", "task", "before", "after", "articles")
    for name, group in groups.items():
        for task, known in truth.items():
            (was, n), (now, _) = accuracy(before, known, task, group), accuracy(after, known, task, group)
            comparison.add_row(name, task, was, now, str(n))
    for task in settings.tasks.names:
        versions = [
            ", ".join(sorted({d["versions"].get(task, "none") for d in docs.values()})) for docs in (before, after)
        ]
        comparison.add_row("model version", task, *versions, "")
    console.print(comparison)
    kept = sum(1 for i in labelled if after.get(i, {}).get("label_source") == "reviewed")
    console.print(f"  reviews kept through the re-crawl: {kept} of {len(labelled)}")
