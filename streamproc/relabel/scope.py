"""Which stored documents a relabel covers, as Elasticsearch queries: the scope (dates, a query), the ones not yet
on the target versions, and the summary of what a relabel changed (old label vs new, per task)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from elasticsearch import Elasticsearch

from streamproc.dates import parse_date
from streamproc.errors import UserError

NONE = "(none)"  # a task that had no label (no head) or no version before the relabel


@dataclass(frozen=True)
class Scope:
    """The documents a relabel may touch: `published_at` in [since, until), matching `query`."""

    since: str | None = None
    until: str | None = None
    query: str | None = None

    def filters(self) -> list[dict[str, Any]]:
        """The scope as Elasticsearch filter clauses."""
        clauses: list[dict[str, Any]] = []
        dates = {}
        if self.since:
            dates["gte"] = parse_date(self.since, "--since").isoformat()
        if self.until:
            dates["lt"] = parse_date(self.until, "--until").isoformat()
        if dates:
            clauses.append({"range": {"published_at": dates}})
        if self.query:
            clauses.append(user_query(self.query))
        return clauses

    def key(self) -> str:
        """The scope as one string (part of the scan's checkpoint key)."""
        return json.dumps([self.since, self.until, self.query])


def user_query(text: str) -> dict[str, Any]:
    """`--query`: an Elasticsearch query as a JSON object, or a Lucene query string (KQL's `field:value`,
    `and`/`or`/`not` written AND/OR/NOT, ranges as `field:[a TO b]`)."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            parsed = json.loads(stripped)
        except ValueError as exc:
            raise UserError(f"--query looks like JSON but is not: {exc}") from None
        if not isinstance(parsed, dict) or len(parsed) != 1:
            raise UserError('--query as JSON is one Elasticsearch query, e.g. {"term": {"source": "한빛일보"}}')
        return parsed
    return {"query_string": {"query": stripped}}


def on_target(target: dict[str, str]) -> dict[str, Any]:
    """Documents whose every served task is on its target version."""
    return {"bool": {"filter": [{"term": {f"model_versions.{task}": v}} for task, v in sorted(target.items())]}}


def pending_query(scope: Scope, target: dict[str, str], after: str | None = None) -> dict[str, Any]:
    """Documents in scope not on the target (sorted scans pass the last id seen as `after`)."""
    filters = scope.filters()
    if after is not None:
        filters.append({"range": {"id": {"gt": after}}})
    return {"bool": {"filter": filters, "must_not": [on_target(target)]}}


def count(client: Elasticsearch, index: str, query: dict[str, Any]) -> int:
    """Documents matching `query`."""
    return int(client.count(index=index, query=query)["count"])


def pending_page(client: Elasticsearch, index: str, query: dict[str, Any], size: int) -> list[str]:
    """The first `size` ids matching `query`, in id order (a keyword sort: no scroll context or point in time to
    lose, so a restarted scan continues with `range id > last`)."""
    hits = client.search(index=index, query=query, sort=[{"id": "asc"}], size=size, source=False)["hits"]["hits"]
    return [str(hit["sort"][0]) for hit in hits]


def _terms(client: Elasticsearch, index: str, query: dict[str, Any], field: str) -> dict[str, int]:
    """Documents per value of `field`, and `(none)` for those without one (counted apart: the local stand-in
    ignores the terms aggregation's `missing`)."""
    aggs = {"values": {"terms": {"field": field, "size": 1000}}}
    answer = client.search(index=index, size=0, query=query, aggs=aggs)
    counts = {str(b["key"]): int(b["doc_count"]) for b in answer["aggregations"]["values"]["buckets"]}
    without = count(client, index, {"bool": {"filter": [query], "must_not": [{"exists": {"field": field}}]}})
    return {**counts, **({NONE: without} if without else {})}


def versions_in_scope(client: Elasticsearch, index: str, scope: Scope, tasks: list[str]) -> dict[str, dict[str, int]]:
    """Per task: documents in scope by the model version that labeled them (`(none)`: no label)."""
    query = {"bool": {"filter": scope.filters()}}
    return {task: _terms(client, index, query, f"model_versions.{task}") for task in tasks}


def confusion(
    client: Elasticsearch, index: str, scope: Scope, target: dict[str, str]
) -> dict[str, dict[str, dict[str, int]]]:
    """Per task: old label -> new label -> documents, over the documents in scope that a relabel brought onto
    the target (their `relabel.previous_versions.<task>` is set and `model_versions.<task>` is the target)."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for task, version in sorted(target.items()):
        relabeled = [
            *scope.filters(),
            {"term": {f"model_versions.{task}": version}},
            {"exists": {"field": f"relabel.previous_versions.{task}"}},
        ]
        old_field, new_field = f"relabel.previous.{task}", f"{task}.label"
        aggs = {
            "old": {
                "terms": {"field": old_field, "size": 1000},
                "aggs": {"new": {"terms": {"field": new_field, "size": 1000}}},
            }
        }
        answer = client.search(index=index, size=0, query={"bool": {"filter": relabeled}}, aggs=aggs)
        matrix = {
            str(old["key"]): {str(new["key"]): int(new["doc_count"]) for new in old["new"]["buckets"]}
            for old in answer["aggregations"]["old"]["buckets"]
        }
        unlabeled = {"bool": {"filter": relabeled, "must_not": [{"exists": {"field": old_field}}]}}
        row = _terms(client, index, unlabeled, new_field)
        if row:
            matrix[NONE] = row
        out[task] = matrix
    return out


def changed(matrix: dict[str, dict[str, int]]) -> tuple[int, int]:
    """(documents whose label changed, documents) of one task's confusion."""
    total = sum(n for row in matrix.values() for n in row.values())
    same = sum(row.get(old, 0) for old, row in matrix.items())
    return total - same, total
