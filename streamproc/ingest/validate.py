"""Raw record bytes -> `Article`, or a `Rejection` that says why (the worker dead-letters those)."""

from __future__ import annotations

import json

from pydantic import ValidationError

from streamproc.ingest.article import Article
from streamproc.ingest.json_limits import unindexable_value
from streamproc.ingest.records import Rejection

__all__ = ["Rejection", "describe_validation_error", "parse_article"]


def parse_article(raw: bytes | None, max_bytes: int) -> Article | Rejection:
    """Validate one record value. Never raises for bad input."""
    if raw is None:
        return Rejection("invalid_json", "empty record (no value)")
    if len(raw) > max_bytes:
        return Rejection("too_large", f"record is {len(raw)} bytes, over the limit of {max_bytes}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejection("not_utf8", f"value is not UTF-8: {exc}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return Rejection("invalid_json", f"value is not JSON: {exc}")
    except Exception as exc:  # untrusted bytes: whatever the parser cannot take is bad input, never a crash
        return Rejection("invalid_json", f"value cannot be parsed as JSON: {_parser_error(exc)}")
    if not isinstance(data, dict):
        return Rejection("not_an_object", f"expected a JSON object, got {type(data).__name__}")
    problem = unindexable_value(data)
    if problem is not None:
        return Rejection("invalid_article", problem)
    try:
        return Article.model_validate(data)
    except ValidationError as exc:
        return Rejection("invalid_article", describe_validation_error(exc))
    except Exception as exc:  # a validator choking on hostile input is still the input's fault
        return Rejection("invalid_article", f"article cannot be validated: {type(exc).__name__}")


def _parser_error(exc: Exception) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def describe_validation_error(exc: ValidationError) -> str:
    """One line listing each failing field and why."""
    problems = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "article"
        problems.append(f"{field}: {error['msg'].removeprefix('Value error, ')}")
    return "; ".join(problems)
