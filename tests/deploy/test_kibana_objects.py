"""The Kibana saved objects hold together: every named reference resolves, every field they use is mapped.

Complements tests/deploy/test_compose.py (object ids, data view, columns): here the reference *names* the
objects point through (`indexRefName`, `panelRefName`, Lens layers), sort fields, KQL queries, and the KQL
examples the README gives, all against the index template.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from streamproc.sinks.index_template import index_template
from streamproc.tasks import load_tasks
from tests.paths import REPO_ROOT

OBJECTS_FILE = REPO_ROOT / "deploy" / "kibana" / "saved-objects.ndjson"
OBJECTS = [json.loads(line) for line in OBJECTS_FILE.read_text("utf-8").splitlines()]
AGGREGATABLE = {"keyword", "date", "float", "integer", "long", "boolean"}
# The KQL examples in the README ("Searching in Kibana"): every field they name must be mapped.
README_KQL = [
    'needs_review:true and lang:ko and topic.label:"economy"',
    "sentiment.label:negative and sentiment.score >= 0.8",
    'source:"한빛일보" and published_at >= "2026-11-01" and title:반도체',
    "topic.label:(politics or world) and uncertainty.topic >= 0.9",
    "kafka.partition:2 and kafka.offset >= 1200 and kafka.offset < 1300",
]


def _field_types() -> dict[str, str]:
    """Dotted field path -> mapping type, from the index template."""
    types: dict[str, str] = {}

    def walk(properties: dict[str, Any], prefix: str) -> None:
        for name, spec in properties.items():
            path = f"{prefix}{name}"
            types[path] = spec.get("type", "object")
            walk(spec.get("properties", {}), f"{path}.")

    walk(index_template("news-enriched", load_tasks())["template"]["mappings"]["properties"], "")
    return types


FIELDS = _field_types()


def _kql_fields(query: str) -> list[str]:
    """Field names in a KQL query (`field:value`, `field >= value`)."""
    unquoted = re.sub(r'"[^"]*"', '""', query)
    return re.findall(r"([A-Za-z_][\w.]*)\s*(?::|<=|>=|<|>)", unquoted)


def _references(obj: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {ref["name"]: ref for ref in obj["references"]}


def _by_type(kind: str) -> list[dict[str, Any]]:
    return [o for o in OBJECTS if o["type"] == kind]


def test_saved_searches_resolve_their_data_view_and_use_mapped_fields() -> None:
    views = {o["id"] for o in _by_type("index-pattern")}
    for search in _by_type("search"):
        source = json.loads(search["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
        ref = _references(search)[source["indexRefName"]]
        assert ref["type"] == "index-pattern" and ref["id"] in views
        for field, _direction in search["attributes"]["sort"]:
            assert FIELDS.get(field) in AGGREGATABLE, f"{search['id']} sorts on {field}"
        for field in _kql_fields(source["query"]["query"]):
            assert field in FIELDS, f"{search['id']} queries unmapped {field}"


def test_lens_layers_resolve_and_bucket_on_aggregatable_fields() -> None:
    views = {o["id"] for o in _by_type("index-pattern")}
    for lens in _by_type("lens"):
        refs = _references(lens)
        state = lens["attributes"]["state"]
        for layer_id, layer in state["datasourceStates"]["formBased"]["layers"].items():
            ref = refs[f"indexpattern-datasource-layer-{layer_id}"]
            assert ref["type"] == "index-pattern" and ref["id"] in views
            for column in layer["columns"].values():
                if column["operationType"] in ("terms", "date_histogram"):
                    assert FIELDS.get(column["sourceField"]) in AGGREGATABLE, column["sourceField"]
        for field in _kql_fields(state["query"]["query"]):
            assert field in FIELDS


def test_dashboard_panels_resolve() -> None:
    ids = {(o["type"], o["id"]) for o in OBJECTS}
    for dashboard in _by_type("dashboard"):
        refs = _references(dashboard)
        panels = json.loads(dashboard["attributes"]["panelsJSON"])
        assert panels
        for panel in panels:
            ref = refs[f"{panel['panelIndex']}:{panel['panelRefName']}"]
            assert ref["type"] == panel["type"] and (ref["type"], ref["id"]) in ids


@pytest.mark.parametrize("query", README_KQL)
def test_readme_kql_examples_use_mapped_fields(query: str) -> None:
    fields = _kql_fields(query)
    assert fields
    for field in fields:
        assert field in FIELDS, f"{field} is not in the index template"
