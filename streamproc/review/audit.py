"""The audit sample: a uniformly random share of all articles, reviewed blind, to say how often labels are right.

The review queue sees only what the models are unsure about, so agreement there says nothing about the whole
stream. With `STREAMPROC_AUDIT_SHARE` set, an article is in the audit sample when a hash of its id falls under
that share: independent of the model and its uncertainty, and the same article on every replay or re-crawl.
The sample's articles are queued marked `audit` (`streamproc.review.queue`), claimed interleaved with the
uncertain ones, and shown without the model's answers (`streamproc.review.web`, `streamproc review next`); their
decisions carry `audit: true` and feed `streamproc quality`, the gate of `streamproc retrain` and the
`streamproc_audit_accuracy` metric.
"""

from __future__ import annotations

import hashlib

SALT = b"streamproc-audit:"  # a different hash than retrain's holdout, so the two choices are independent


def in_audit_sample(doc_id: str, share: float | None) -> bool:
    """Whether the article `doc_id` is in an audit sample of `share` (None: no audit sample)."""
    if not share:
        return False
    digest = hashlib.sha256(SALT + doc_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share
