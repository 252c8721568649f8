"""`streamproc demo --review`: the active-learning loop once, after the main job, with its own numbers.

The scripted reviewer (`streamproc.demo.reviewer`) drains the review queue, labelling each sample article with
what is known of it. `retrain` builds a candidate from those labels and the base data and gates it; when
promoted, the samples are published again (a re-crawl: same ids) and a worker labels them with the new version.
Before/after accuracy per task against those labels is printed, split into articles a reviewer labelled and
trained on, reviewed articles held out of training, and articles never queued.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from streamproc.config import Settings
from streamproc.connections import elasticsearch_client
from streamproc.demo.reviewer import known_labels, scripted_review
from streamproc.plugins import training
from streamproc.review.service import ReviewService
from streamproc.sinks.document import document_model


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
        _print_copies(service, settings, console)
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


def _print_copies(service: ReviewService, settings: Settings, console: Console) -> None:
    """How many near-duplicate copies took their story's decision, and from which reviewed article."""
    copies = service.desk.copies_decided()
    by_item: dict[str, list[str]] = {}
    for copy, item in sorted(copies.items()):
        by_item.setdefault(item, []).append(copy)
    service.es.indices.refresh(index=settings.es_index)
    indexed = service.es.count(index=settings.es_index, query={"term": {"label_source": "reviewed_duplicate"}})
    console.print(
        f"  {len(copies)} near-duplicate copies labelled through {len(by_item)} decisions, never queued "
        f"({indexed['count']} documents with label_source reviewed_duplicate)"
    )
    for item, members in by_item.items():
        console.print(Text(f"    {item} -> {', '.join(members)}"))
