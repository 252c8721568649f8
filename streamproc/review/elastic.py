"""Reviewers' decisions onto the article's Elasticsearch document (`review.*`, `label_source`).

The worker writes articles as partial-document updates (`streamproc.sinks.elasticsearch_sink`), so these
fields survive a replay or a re-crawl with the same id. `label_source` is `model` until a reviewer decides,
then `reviewed` or `rejected`: Kibana filters on it.
"""

from __future__ import annotations

from typing import Any

from elasticsearch import Elasticsearch, NotFoundError

from streamproc.errors import UserError


def review_fields(record: dict[str, Any]) -> dict[str, Any]:
    """The partial document for a label or reject decision record."""
    labels = record.get("labels") or {}
    model = record.get("model") or {}
    review: dict[str, Any] = {
        "decision": record["decision"],
        "by": record["reviewer"],
        "at": record["at"],
        "audit": bool(record.get("audit")),
        "model_versions": model.get("versions") or {},
        **labels,
    }
    said = {task: (model.get(task) or {}).get("label") for task in labels}
    agrees = {task: said[task] == label for task, label in labels.items() if said[task] is not None}
    if agrees:  # only where the model had an answer
        review["agrees"] = agrees
    return {"review": review, "label_source": "rejected" if record["decision"] == "reject" else "reviewed"}


def write_decision(client: Elasticsearch, index: str, record: dict[str, Any]) -> None:
    """Put a decision on its document; raises `UserError` with one line when that is not possible."""
    try:
        client.update(index=index, id=record["id"], doc=review_fields(record), retry_on_conflict=3)
    except NotFoundError:
        raise UserError(f"{record['id']}: no such document in Elasticsearch index {index}") from None
    except Exception as exc:
        raise UserError(
            f"{record['id']}: the decision is stored in Redis but Elasticsearch refused it ({exc}); "
            "`streamproc review sync` writes it again"
        ) from None


def sync_decisions(client: Elasticsearch, index: str, records: list[dict[str, Any]]) -> tuple[int, list[str]]:
    """Write every decision again (idempotent); returns (written, ids that failed)."""
    from elasticsearch.helpers import bulk

    actions = [
        {"_op_type": "update", "_index": index, "_id": r["id"], "doc": review_fields(r), "retry_on_conflict": 3}
        for r in records
    ]
    written, errors = bulk(client, actions, raise_on_error=False, max_retries=0)
    failed = [str(next(iter(e.values())).get("_id")) for e in errors]  # type: ignore[union-attr]
    return int(written), failed
