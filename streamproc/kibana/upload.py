"""Import saved objects (NDJSON, `streamproc.kibana.objects`) through Kibana's saved-objects API.

`POST <kibana>[/s/<space>]/api/saved_objects/_import?overwrite=true`, multipart field `file`, header
`kbn-xsrf`; authentication by API key (`Authorization: ApiKey ...`) or user and password (basic).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import urllib3
from pydantic import SecretStr

from streamproc.errors import UserError


@dataclass(frozen=True)
class KibanaAuth:
    """An API key, or a user with a password (both optional: an open Kibana needs neither)."""

    api_key: SecretStr | None = None
    user: str | None = None
    password: SecretStr | None = None

    def headers(self) -> dict[str, str]:
        """The Authorization header for these credentials."""
        if self.api_key is not None:
            return {"Authorization": f"ApiKey {self.api_key.get_secret_value()}"}
        if self.user is not None:
            secret = self.password.get_secret_value() if self.password else ""
            return {"Authorization": urllib3.make_headers(basic_auth=f"{self.user}:{secret}")["authorization"]}
        return {}


def shown_url(url: str) -> str:
    """The URL without credentials, path or query: safe to print."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


def import_endpoint(url: str, space: str | None) -> str:
    """The import API's URL for a Kibana base URL and an optional space."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"expected a Kibana URL such as http://127.0.0.1:5601, got {shown_url(url)!r}")
    if parts.username or parts.password:
        raise UserError(f"keep credentials out of the Kibana URL {shown_url(url)}: use --user or --api-key")
    base = url.rstrip("/")
    prefix = f"/s/{quote(space, safe='')}" if space else ""
    return f"{base}{prefix}/api/saved_objects/_import?overwrite=true"


def import_saved_objects(
    url: str,
    auth: KibanaAuth,
    ndjson: bytes,
    space: str | None = None,
    ca_certs: Path | None = None,
    timeout: float = 30.0,
    name: str = "saved-objects.ndjson",
) -> str:
    """Post the NDJSON (as the file `name`); return a one-line summary or raise `UserError` with Kibana's reason."""
    endpoint = import_endpoint(url, space)
    body, content_type = urllib3.encode_multipart_formdata({"file": (name, ndjson, "application/ndjson")})
    headers = {"kbn-xsrf": "true", "Content-Type": content_type, **auth.headers()}
    http = urllib3.PoolManager(ca_certs=str(ca_certs) if ca_certs else None)
    try:
        response = http.request("POST", endpoint, body=body, headers=headers, timeout=timeout, retries=False)
    except urllib3.exceptions.HTTPError as exc:
        raise UserError(f"cannot reach Kibana at {shown_url(url)} ({type(exc).__name__})") from None
    finally:
        http.clear()
    return _summary(response.status, _json(response.data), shown_url(url))


def _json(data: bytes) -> dict[str, Any]:
    try:
        answer = json.loads(data)
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _summary(status: int, answer: dict[str, Any], where: str) -> str:
    message = str(answer.get("message", ""))[:300]
    if status == 401:
        raise UserError(f"Kibana at {where} refused the credentials (401): {message}; pass --api-key or --user")
    if status == 403:
        raise UserError(f"Kibana at {where}: these credentials may not import saved objects (403): {message}")
    if status != 200:
        raise UserError(f"Kibana at {where} answered HTTP {status}: {message or 'no reason given'}")
    imported = int(answer.get("successCount", 0))
    if answer.get("success") is True:
        return f"imported {imported} saved objects into Kibana at {where} (existing ones overwritten)"
    failures = [
        f"{error.get('type', '?')} {error.get('id', '?')} ({error.get('error', {}).get('type', 'unknown')})"
        for error in answer.get("errors", [])
        if isinstance(error, dict)
    ]
    raise UserError(
        f"Kibana at {where} imported {imported} saved objects and refused {len(failures)}: " + ", ".join(failures)
    )
