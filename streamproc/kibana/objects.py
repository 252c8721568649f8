"""The Kibana saved objects, generated from the task file: data view, saved searches, Lens charts, dashboard.

Per task set: the data view of `<index>*`; the saved search of the articles waiting for review (a column per
task's label); the first task broken down by the second; articles over time; stories (unique `story_id`) next to
articles over time; a chart per further task (e.g.
emotion); the first task's label mix over time (a drift shows as a band that swells or vanishes); per reviewed
task, how often the blind audit sample agrees with the model, by model version; the reviewed articles
(reviewer's and model's labels side by side); the share of reviewed articles per first-task label; the
reviewers' agreement with the model on the first two reviewed tasks; and the overview dashboard.
`deploy/kibana/saved-objects.ndjson` is this module's output for the default task file (a test keeps them equal;
`streamproc kibana objects --out FILE` writes it, `streamproc kibana import` posts it).
"""

from __future__ import annotations

import json
from typing import Any

from streamproc.tasks import Task, TaskSet

DATA_VIEW = "streamproc-news-enriched"
STAMP = "2026-11-01T00:00:00.000Z"  # fixed, so the generated file only changes when the objects do
KIBANA_VERSION = "8.15.3"
LAYER_REF = "indexpattern-datasource-layer-layer1"
SEARCH_REF = "kibanaSavedObjectMeta.searchSourceJSON.index"


def saved_objects(tasks: TaskSet, index: str = "news-enriched") -> list[dict[str, Any]]:
    """Every saved object for `tasks` on `<index>*`, in import order (referenced objects first)."""
    first, *rest = list(tasks)
    reviewed = [tasks[name] for name in tasks.reviewed]
    charts = [_breakdown(first, rest[0]) if rest else _by_label(first), _over_time(), _stories_over_time()]
    charts += [_by_label(task) for task in rest[1:]]
    charts += [_label_mix(first), *(_audit_accuracy(task) for task in reviewed)]
    objects = [_data_view(index), _needs_review(tasks), *charts]
    if reviewed:
        objects += [_reviewed(reviewed), _reviewed_share(first)]
    if len(reviewed) >= 2:
        objects.append(_agreement(reviewed[0], reviewed[1]))
    return [*objects, _dashboard(tasks, charts, objects[1])]


def ndjson(objects: list[dict[str, Any]]) -> bytes:
    """The objects as Kibana's import file: one compact JSON object per line."""
    lines = [json.dumps(obj, ensure_ascii=False, separators=(",", ":")) for obj in objects]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _saved(kind: str, object_id: str, attributes: dict[str, Any], references: list[dict], version: str) -> dict:
    return {
        "attributes": attributes,
        "coreMigrationVersion": "8.8.0",
        "created_at": STAMP,
        "id": object_id,
        "managed": False,
        "references": references,
        "type": kind,
        "typeMigrationVersion": version,
        "updated_at": STAMP,
    }


def _data_view(index: str) -> dict[str, Any]:
    attributes = {
        "title": f"{index}*",
        "name": f"{index} (streamproc)",
        "timeFieldName": "processed_at",
        "fields": "[]",
        "fieldAttrs": "{}",
        "fieldFormatMap": "{}",
        "runtimeFieldMap": "{}",
        "sourceFilters": "[]",
        "typeMeta": "{}",
        "allowNoIndex": True,
    }
    return _saved("index-pattern", DATA_VIEW, attributes, [], "8.0.0")


def _search(object_id: str, title: str, description: str, columns: list[str], sort: str, kql: str) -> dict:
    source = {"query": {"query": kql, "language": "kuery"}, "filter": [], "indexRefName": SEARCH_REF}
    attributes = {
        "title": title,
        "description": description,
        "columns": columns,
        "sort": [[sort, "desc"]],
        "hits": 0,
        "version": 1,
        "kibanaSavedObjectMeta": {"searchSourceJSON": json.dumps(source)},
    }
    return _saved("search", object_id, attributes, [_ref(SEARCH_REF)], "7.9.3")


def _needs_review(tasks: TaskSet) -> dict[str, Any]:
    names = " or ".join(tasks.reviewed) or "no"
    return _search(
        "streamproc-needs-review",
        "Articles waiting for review (needs_review:true)",
        f"Articles whose {names} uncertainty reached the review threshold, most uncertain first. The same ids are "
        "on the Redis review queue (`streamproc review`).",
        ["title", *(f"{task.name}.label" for task in tasks), "uncertainty.max", "source", "lang"],
        "uncertainty.max",
        "needs_review:true",
    )


def _reviewed(reviewed: list[Task]) -> dict[str, Any]:
    columns = ["title"]
    for task in reviewed:
        columns += [f"review.{task.name}", f"{task.name}.label"]
    return _search(
        "streamproc-reviewed",
        "Reviewed articles (label_source:reviewed)",
        "Articles a reviewer labeled (`streamproc review` or the review page): the reviewer's labels next to the "
        "model's. label_source:rejected lists the rejected ones.",
        [*columns, "review.by", "review.at"],
        "review.at",
        "label_source:reviewed",
    )


def _terms(label: str, field: str, size: int, other: bool) -> dict[str, Any]:
    return {
        "label": label,
        "customLabel": True,
        "dataType": "string",
        "operationType": "terms",
        "sourceField": field,
        "isBucketed": True,
        "scale": "ordinal",
        "params": {
            "size": size,
            "orderBy": {"type": "column", "columnId": "count"},
            "orderDirection": "desc",
            "otherBucket": other,
            "missingBucket": False,
        },
    }


COUNT = {
    "label": "Articles",
    "customLabel": True,
    "dataType": "number",
    "operationType": "count",
    "sourceField": "___records___",
    "isBucketed": False,
    "scale": "ratio",
    "params": {"emptyAsNull": True},
}


def _lens(
    object_id: str,
    title: str,
    description: str,
    x: tuple[str, dict[str, Any]],
    split: tuple[str, dict[str, Any]] | None,
    series: str,
    kql: str = "",
    metrics: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    metrics = metrics or {"count": COUNT}
    columns = {x[0]: x[1], **({split[0]: split[1]} if split else {}), **metrics}
    layer: dict[str, Any] = {"layerId": "layer1", "layerType": "data", "seriesType": series, "xAccessor": x[0]}
    if split:
        layer["splitAccessor"] = split[0]
    layer["accessors"] = list(metrics)
    state = {
        "datasourceStates": {
            "formBased": {
                "layers": {"layer1": {"columns": columns, "columnOrder": list(columns), "incompleteColumns": {}}}
            }
        },
        "visualization": {
            "legend": {"isVisible": True, "position": "right"},
            "valueLabels": "hide",
            "preferredSeriesType": series,
            "layers": [layer],
        },
        "query": {"query": kql, "language": "kuery"},
        "filters": [],
        "internalReferences": [],
        "adHocDataViews": {},
    }
    attributes = {"title": title, "description": description, "visualizationType": "lnsXY", "state": state}
    return _saved("lens", object_id, attributes, [_ref(LAYER_REF)], "8.9.0")


def _breakdown(first: Task, second: Task) -> dict[str, Any]:
    return _lens(
        f"streamproc-{first.name}-by-{second.name}",
        f"Articles by {first.name} and {second.name}",
        f"Count of enriched articles per predicted {first.name}, stacked by predicted {second.name}.",
        (first.name, _terms(first.name.capitalize(), f"{first.name}.label", len(first.labels) + 2, True)),
        (second.name, _terms(second.name.capitalize(), f"{second.name}.label", len(second.labels), True)),
        "bar_stacked",
    )


def _by_label(task: Task) -> dict[str, Any]:
    return _lens(
        f"streamproc-{task.name}-by-lang",
        f"Articles by {task.name}",
        f"Count of enriched articles per predicted {task.name} ({task.display}), stacked by language.",
        (task.name, _terms(task.name.capitalize(), f"{task.name}.label", len(task.labels), True)),
        ("lang", _terms("Language", "lang", 5, True)),
        "bar_stacked",
    )


STORIES = {
    "label": "Stories",
    "customLabel": True,
    "dataType": "number",
    "operationType": "unique_count",
    "sourceField": "story_id",
    "isBucketed": False,
    "scale": "ratio",
    "params": {"emptyAsNull": True},
}


def _stories_over_time() -> dict[str, Any]:
    return _lens(
        "streamproc-stories-over-time",
        "Stories and articles over time",
        "Per interval of processed_at: enriched articles, and the stories they belong to (unique story_id: "
        "near-duplicate copies of one wire story count once). The gap between the lines is the copies.",
        _time_axis(),
        None,
        "line",
        metrics={"count": COUNT, "stories": STORIES},
    )


def _over_time() -> dict[str, Any]:
    return _lens(
        "streamproc-articles-over-time",
        "Articles processed over time",
        "Enriched articles per interval of processed_at, by language.",
        _time_axis(),
        ("lang", _terms("Language", "lang", 5, True)),
        "bar_stacked",
    )


def _time_axis() -> tuple[str, dict[str, Any]]:
    return (
        "time",
        {
            "label": "processed_at",
            "dataType": "date",
            "operationType": "date_histogram",
            "sourceField": "processed_at",
            "isBucketed": True,
            "scale": "interval",
            "params": {"interval": "auto", "includeEmptyRows": True, "dropPartials": False},
        },
    )


def _label_mix(task: Task) -> dict[str, Any]:
    return _lens(
        f"streamproc-{task.name}-mix-over-time",
        f"{task.name.capitalize()} mix over time",
        f"Share of each predicted {task.name} per interval of processed_at: a broken feed or a crawler that sends "
        "one section only shows as a band that swells or vanishes (streamproc_label_drift alerts on it).",
        _time_axis(),
        (task.name, _terms(task.name.capitalize(), f"{task.name}.label", len(task.labels), True)),
        "bar_percentage_stacked",
    )


def _audit_accuracy(task: Task) -> dict[str, Any]:
    return _lens(
        f"streamproc-audit-{task.name}",
        f"Audit sample: {task.name} right, by model version",
        f"Of the blind reviews of the audit sample (review.audit:true): the share where the reviewer's {task.name} "
        f"is the model's (review.agrees.{task.name}), per model version. `streamproc quality` gives the intervals.",
        ("x", _terms("Model version", f"model_versions.{task.name}", 10, False)),
        ("split", _terms("Model was right", f"review.agrees.{task.name}", 2, False)),
        "bar_percentage_stacked",
        "review.audit:true",
    )


def _reviewed_share(first: Task) -> dict[str, Any]:
    return _lens(
        "streamproc-reviewed-share",
        f"Reviewed share by {first.name}",
        f"Share of articles per predicted {first.name} whose labels come from the model only, a reviewer, a "
        "reviewer's decision on another copy of the story (reviewed_duplicate), or were rejected (label_source).",
        ("x", _terms(f"Predicted {first.name}", f"{first.name}.label", len(first.labels) + 2, False)),
        ("split", _terms("Label source", "label_source", 4, False)),
        "bar_percentage_stacked",
    )


def _agreement(first: Task, second: Task) -> dict[str, Any]:
    return _lens(
        "streamproc-review-agreement",
        "Reviewer agreement with the model",
        f"Of the reviewed articles: did the reviewer keep the model's {first.name} (review.agrees.{first.name}), "
        f"split by whether the {second.name} was kept.",
        ("x", _terms(f"{first.name.capitalize()} kept", f"review.agrees.{first.name}", 2, False)),
        ("split", _terms(f"{second.name.capitalize()} kept", f"review.agrees.{second.name}", 2, False)),
        "bar_percentage_stacked",
        "label_source:reviewed",
    )


def _dashboard(tasks: TaskSet, charts: list[dict[str, Any]], waiting: dict[str, Any]) -> dict[str, Any]:
    panels, references = [], []
    chart_rows = (len(charts) + 1) // 2  # two charts a row, then the saved search across the whole width
    grids = [{"x": 24 * (i % 2), "y": 15 * (i // 2), "w": 24, "h": 15} for i in range(len(charts))]
    grids.append({"x": 0, "y": 15 * chart_rows, "w": 48, "h": 20})
    for n, (obj, grid) in enumerate(zip([*charts, waiting], grids, strict=True), 1):
        key = f"p{n}"
        panels.append(
            {
                "version": KIBANA_VERSION,
                "type": obj["type"],
                "gridData": {**grid, "i": key},
                "panelIndex": key,
                "embeddableConfig": {"enhancements": {}},
                "panelRefName": f"panel_{key}",
            }
        )
        references.append({"id": obj["id"], "name": f"{key}:panel_{key}", "type": obj["type"]})
    options = {
        "useMargins": True,
        "syncColors": True,
        "syncCursor": True,
        "syncTooltips": False,
        "hidePanelTitles": False,
    }
    attributes = {
        "title": "streamproc: news overview",
        "description": f"{' x '.join(tasks.names[:2])}, throughput, the other tasks and the articles waiting for "
        "review.",
        "panelsJSON": json.dumps(panels),
        "optionsJSON": json.dumps(options),
        "timeRestore": True,
        "timeFrom": "now-7d",
        "timeTo": "now",
        "refreshInterval": {"pause": False, "value": 30000},
        "version": 1,
        "kibanaSavedObjectMeta": {
            "searchSourceJSON": json.dumps({"query": {"query": "", "language": "kuery"}, "filter": []})
        },
    }
    return _saved("dashboard", "streamproc-overview", attributes, references, "8.7.0")


def _ref(name: str) -> dict[str, str]:
    return {"id": DATA_VIEW, "name": name, "type": "index-pattern"}
