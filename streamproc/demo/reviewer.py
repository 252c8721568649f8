"""The demo's scripted reviewer: it labels each sample article with what is known of it.

Its topic is the section its URL names (`/news/sports/...`); its emotion is written down in
`sample_emotions.tsv` (the project's own labels of the samples). The main job has it answer the audit sample
blind (`streamproc quality` then shows how often the served labels are right); `streamproc demo --review` has it
drain the rest of the queue before `retrain`.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from streamproc.ingest.article import Article
from streamproc.ingest.validate import parse_article
from streamproc.publish.reader import read_records
from streamproc.review.service import ReviewService

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


def scripted_review(service: ReviewService, truth: Truth, audit_only: bool = False) -> tuple[set[str], dict[str, int]]:
    """Claim everything (with `audit_only`, label only the audit sample's articles); label each sample with what
    is known of it. Returns (labelled ids, how often the model agreed, per task)."""
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
            if labels and (item.audit or not audit_only):
                service.label(item.id, REVIEWER, labels)
                labelled.add(item.id)
                for task, label in labels.items():
                    agreed[task] += int(item.model_label(task) == label)
            else:
                service.skip(item.id, REVIEWER)  # not a sample, or nothing known of it
    for held in service.desk.claim(REVIEWER, 100):  # give back what came round again
        service.skip(held.id, REVIEWER)
    return labelled, agreed
