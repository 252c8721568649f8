"""Reviewers' decisions onto the articles' Elasticsearch documents (`review.*`, `label_source`).

The worker writes articles as partial-document updates (`streamproc.sinks.elasticsearch_sink`), so these
fields survive a replay or a re-crawl with the same id. `label_source` is `model` until a decision applies, then
`reviewed` or `rejected`; a near-duplicate copy labelled through its story's decision is `reviewed_duplicate`
(`review.via_duplicate_of` names the decided item; a rejected story's copies are `rejected`). Kibana filters on
it. A decision that is withdrawn (a corrected vote that breaks the consensus) clears `review` again.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from elasticsearch import Elasticsearch

from streamproc.errors import UserError

CLEARED: dict[str, Any] = {"review": None, "label_source": "model"}


def review_fields(record: dict[str, Any], copy_of: str | None = None) -> dict[str, Any]:
    """The partial document for a label or reject decision record (the consensus of the item's votes); with
    `copy_of`, for a copy of that item's story."""
    labels = record.get("labels") or {}
    model = record.get("model") or {}
    review: dict[str, Any] = {
        "decision": record["decision"],
        "by": record["reviewer"],
        "at": record["at"],
        "audit": bool(record.get("audit")) and copy_of is None,
        "model_versions": model.get("versions") or {},
        "corrected": bool(record.get("corrected")),
        **labels,
    }
    for key in ("identity", "voters", "votes"):
        if record.get(key):
            review[key] = record[key]
    if record.get("disputed"):
        review["disputed"] = list(record["disputed"])
    said = {task: (model.get(task) or {}).get("label") for task in labels}
    agrees = {task: said[task] == label for task, label in labels.items() if said[task] is not None}
    if agrees and copy_of is None:  # only where the model had an answer; a copy's model answer is its own
        review["agrees"] = agrees
    if copy_of is not None:
        review["via_duplicate_of"] = copy_of
    copied = "reviewed" if copy_of is None else "reviewed_duplicate"
    source = "rejected" if record["decision"] == "reject" else copied
    return {"review": review, "label_source": source}


def write_decision(client: Elasticsearch, index: str, record: dict[str, Any], members: Iterable[str] = ()) -> None:
    """Put a decision on its document and on its story's copies; raises `UserError` with one line when that is
    not possible. A copy not indexed yet is left out (the worker gives it the decision when it arrives)."""
    actions = [_update(index, record["id"], review_fields(record))]
    actions += [_update(index, member, review_fields(record, record["id"])) for member in members]
    _bulk(client, index, actions, record["id"])


def clear_decision(client: Elasticsearch, index: str, doc_id: str, members: Iterable[str] = ()) -> None:
    """Take a withdrawn decision off its document and its story's copies (back to `label_source: model`)."""
    actions = [_update(index, x, CLEARED) for x in (doc_id, *members)]
    _bulk(client, index, actions, doc_id)


def _update(index: str, doc_id: str, doc: dict[str, Any]) -> dict[str, Any]:
    return {"_op_type": "update", "_index": index, "_id": doc_id, "doc": doc, "retry_on_conflict": 3}


def _bulk(client: Elasticsearch, index: str, actions: list[dict[str, Any]], doc_id: str) -> None:
    from elasticsearch.helpers import bulk

    try:
        _, errors = bulk(client, actions, raise_on_error=False, max_retries=0)
    except Exception as exc:
        raise UserError(
            f"{doc_id}: the decision is stored in Redis but Elasticsearch refused it ({exc}); "
            "`streamproc review sync` writes it again"
        ) from None
    for error in errors:  # type: ignore[union-attr]
        item = next(iter(error.values()))
        if item.get("_id") == doc_id and int(item.get("status", 500)) == 404:
            raise UserError(f"{doc_id}: no such document in Elasticsearch index {index}")
        if int(item.get("status", 500)) != 404:  # a copy not indexed yet: the worker labels it on arrival
            raise UserError(
                f"{item.get('_id')}: the decision is stored in Redis but Elasticsearch refused it "
                f"({item.get('status')}); `streamproc review sync` writes it again"
            )


def sync_decisions(
    client: Elasticsearch, index: str, records: list[dict[str, Any]], copies: dict[str, str] | None = None
) -> tuple[int, list[str]]:
    """Write every decision again, and every copy's (`copies`: copy id -> decided item id); idempotent.
    Returns (written, ids that failed; copies not indexed are not counted as failed)."""
    from elasticsearch.helpers import bulk

    by_id = {r["id"]: r for r in records}
    actions = [_update(index, r["id"], review_fields(r)) for r in records]
    actions += [
        _update(index, copy, review_fields(by_id[item], item)) for copy, item in (copies or {}).items() if item in by_id
    ]
    written, errors = bulk(client, actions, raise_on_error=False, max_retries=0)
    failed = []
    for error in errors:  # type: ignore[union-attr]
        item = next(iter(error.values()))
        if item.get("_id") in by_id or int(item.get("status", 500)) != 404:
            failed.append(str(item.get("_id")))
    return int(written), failed
