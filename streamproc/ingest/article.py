"""The article schema published to `news.raw`, and how an article's id is derived when it has none."""

from __future__ import annotations

import hashlib
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from streamproc.ingest.model_text import model_text

ID_PATTERN = re.compile(r"^[\w.:@/+=-]{1,200}$")
MAX_ID_BYTES = 512  # Elasticsearch's `_id` limit, in UTF-8 bytes (a 200-character Korean id is 600 bytes)


def normalize_url(url: str) -> str:
    """Lower-case scheme and host, drop the fragment: the same page gives the same string."""
    parts = urlsplit(url.strip())
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", parts.query, ""))


def id_from_url(url: str) -> str:
    """A stable id for an article without one: `url-` + 32 hex digits of SHA-256 of the normalised URL."""
    return "url-" + hashlib.sha256(normalize_url(url).encode("utf-8")).hexdigest()[:32]


class Article(BaseModel):
    """A crawled news article. Unknown fields are kept and indexed under `extra`.

    `id` is optional on input: without it, the id is derived from `url` (see `id_from_url`), so a crawler
    that re-publishes the same URL updates the same document instead of adding one.
    """

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    id: str = Field(default="", max_length=200)
    url: str = Field(default="", max_length=4096)
    title: str = ""
    body: str = ""
    source: str | None = Field(default=None, max_length=500)
    published_at: AwareDatetime
    lang: str | None = Field(default=None, pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")

    @field_validator("id", mode="before")
    @classmethod
    def _refuse_padded_id(cls, value: object) -> object:
        # Trimming would map two different raw ids (" a" and "a") to one document: refuse instead.
        if isinstance(value, str) and value != value.strip():
            raise ValueError("id has leading or trailing whitespace (ids are used as given, never trimmed)")
        return value

    @field_validator("id")
    @classmethod
    def _check_id_bytes(cls, value: str) -> str:
        if (size := len(value.encode("utf-8"))) > MAX_ID_BYTES:
            raise ValueError(f"id is {size} bytes in UTF-8, over Elasticsearch's limit of {MAX_ID_BYTES}")
        return value

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if value:
            parts = urlsplit(value)
            if parts.scheme not in {"http", "https"} or not parts.netloc:
                raise ValueError("url must be an absolute http(s) URL")
        return value

    @field_validator("lang")
    @classmethod
    def _lower_lang(cls, value: str | None) -> str | None:
        return value.lower().replace("_", "-") if value else value

    @model_validator(mode="after")
    def _derive_id_and_check_text(self) -> Article:
        if not self.title and not self.body:
            raise ValueError("title and body are both empty: nothing to classify")
        if not self.id:
            if not self.url:
                raise ValueError("an article needs an id or a url to derive one from")
            self.id = id_from_url(self.url)
        elif not ID_PATTERN.match(self.id):
            raise ValueError("id may hold only letters, digits and . : @ / + = - _ (at most 200)")
        return self

    @property
    def extra(self) -> dict[str, Any]:
        """Fields the publisher sent beyond the schema."""
        return dict(self.model_extra or {})

    @property
    def text(self) -> str:
        """The model input (`model_text`: boilerplate stripped, title, a newline, body), as in training."""
        return model_text(self.title, self.body)
