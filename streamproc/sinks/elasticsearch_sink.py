"""Bulk-index enriched articles into Elasticsearch with `_id` = article id (replays overwrite, never add).

Each article is written as a partial-document update with an upsert: a replay replaces every field the worker
writes but keeps what reviewers added (`review.*`, `label_source`), see `streamproc.review.elastic`. The one
exception: a copy of a story already decided carries that decision (`label_source: reviewed_duplicate`,
`review.via_duplicate_of`), written with the worker's fields (`streamproc.review.stories`).
"""

from __future__ import annotations

from typing import Any

from elasticsearch import (
    ApiError,
    AsyncElasticsearch,
    SerializationError,
    SSLError,
    TransportError,
    UnsupportedProductError,
)
from elasticsearch.helpers import async_bulk

from streamproc.ingest.records import DeadLetter, Rejection
from streamproc.sinks.outgoing import OutgoingBatch
from streamproc.sinks.retry import PermanentSinkError, TransientSinkError


class ElasticsearchSink:
    """Indexes one batch at a time; raises `TransientSinkError` when the batch should be retried.

    A request Elasticsearch refuses for good raises `PermanentSinkError`; a document the client cannot
    serialise is a bug and raises `SerializationError` as it is.
    """

    what = "Elasticsearch bulk index"
    metric = "elasticsearch"

    def __init__(self, client: AsyncElasticsearch, index: str) -> None:
        self.client = client
        self.index = index

    async def write(self, batch: OutgoingBatch) -> None:
        """Index the batch's articles (the worker's fields; reviewers' fields stay). The ones refused for good
        leave the batch as `index_rejected` dead letters; the rest are counted as indexed."""
        if not batch.articles:
            return
        rejected = await self.index_batch([article.index_fields() for article in batch.articles])
        for article in batch.articles:
            if article.document.id in rejected:
                rejection = Rejection("index_rejected", rejected[article.document.id])
                batch.dead_letters.append(DeadLetter(article.record, rejection))
        batch.articles = [article for article in batch.articles if article.document.id not in rejected]
        batch.indexed = len(batch.articles)

    async def close(self) -> None:
        """Close the client."""
        await self.client.close()

    async def index_batch(self, documents: list[dict[str, Any]]) -> dict[str, str]:
        """Index all documents. Returns the ids Elasticsearch refused for good (4xx) with the reason.

        Connection failures, 429 and 5xx answers raise `TransientSinkError`: the whole batch is retried,
        which is safe because indexing by id is idempotent.
        """
        if not documents:
            return {}
        actions = [
            {
                "_op_type": "update",
                "_index": self.index,
                "_id": doc["id"],
                "doc": doc,
                "upsert": {"label_source": "model", **doc},
            }
            for doc in documents
        ]
        try:
            _, errors = await async_bulk(self.client, actions, raise_on_error=False, max_retries=0)
        except SerializationError:
            raise  # a document that cannot be written as JSON: a bug, not the server's state
        except (ApiError, TransportError) as exc:
            raise classify_elasticsearch_error(exc) from exc
        rejected: dict[str, str] = {}
        for error in errors:  # type: ignore[union-attr]
            item = next(iter(error.values()))
            status = int(item.get("status", 500))
            if status == 429 or status >= 500:
                raise TransientSinkError(f"Elasticsearch answered {status} for {item.get('_id')}")
            rejected[str(item.get("_id"))] = f"{status}: {_reason(item.get('error'))}"
        return rejected


def classify_elasticsearch_error(exc: ApiError | TransportError) -> Exception:
    """Transient (connection, timeout, 429, 5xx) or permanent (TLS, auth, other 4xx, not Elasticsearch)."""
    if isinstance(exc, SSLError | UnsupportedProductError):
        return PermanentSinkError(f"Elasticsearch refused the connection for good: {exc}")
    if isinstance(exc, ApiError) and exc.status_code != 429 and exc.status_code < 500:
        return PermanentSinkError(f"Elasticsearch refused the bulk request ({exc.status_code}): {exc}")
    return TransientSinkError(f"Elasticsearch bulk request failed: {exc}")


def _reason(error: Any) -> str:
    if isinstance(error, dict):
        return f"{error.get('type', 'error')}: {error.get('reason', '')}".strip()
    return str(error)
