"""The Elasticsearch index template for enriched articles, generated from the document model of a task set.

The mapping is derived from the model's fields (`streamproc.sinks.document.document_model`): a field's Python
type gives its Elasticsearch type, a `EsMapping` annotation overrides it (keyword, text, long, unindexed
objects), a nested model becomes an object with its own properties, and a `dict[Literal[tasks], ...]` one
property per task. Adding a field or a task adds it here. `deploy/elasticsearch/news-enriched.template.json` is
the template of the default task file written out for people who provision Elasticsearch by hand; a test keeps
the two equal.
"""

from __future__ import annotations

import types
from datetime import datetime
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from streamproc.sinks.document import EsMapping, document_model
from streamproc.tasks import TaskSet

SCORE = {"type": "float"}
_BY_TYPE: dict[type, dict[str, Any]] = {
    bool: {"type": "boolean"},
    int: {"type": "integer"},
    float: SCORE,
    str: {"type": "keyword"},
    datetime: {"type": "date"},
}


def field_mapping(annotation: Any) -> dict[str, Any]:
    """The Elasticsearch mapping of one field's type annotation."""
    if get_origin(annotation) is Annotated:
        base, *extras = get_args(annotation)
        marks = [extra for extra in extras if isinstance(extra, EsMapping)]
        return dict(marks[-1].spec) if marks else field_mapping(base)
    if get_origin(annotation) in (Union, types.UnionType):  # `X | None`: mapped as X
        (present,) = [arg for arg in get_args(annotation) if arg is not type(None)]
        return field_mapping(present)
    if get_origin(annotation) is dict:
        key, value = get_args(annotation)
        if get_origin(key) is not Literal:
            raise TypeError(f"no mapping for {annotation}: a dict field needs an EsMapping annotation")
        return {"properties": {name: field_mapping(value) for name in get_args(key)}}
    if get_origin(annotation) is Literal:
        return {"type": "keyword"}
    if get_origin(annotation) is list:  # an Elasticsearch field holds a list of its type
        (item,) = get_args(annotation)
        return field_mapping(item)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {"properties": model_properties(annotation)}
    if annotation in _BY_TYPE:
        return dict(_BY_TYPE[annotation])
    raise TypeError(f"no Elasticsearch mapping for {annotation!r}")


def model_properties(model: type[BaseModel]) -> dict[str, Any]:
    """`properties` of a model: one mapping per field, metadata (`Annotated`) included."""
    properties = {}
    for name, info in model.model_fields.items():
        annotation: Any = info.annotation
        if info.metadata:
            annotation = Annotated[(annotation, *info.metadata)]  # pydantic moves `Annotated` extras here
        properties[name] = field_mapping(annotation)
    return properties


def index_template(index: str, tasks: TaskSet) -> dict[str, Any]:
    """Template body for `PUT _index_template/<index>`, matching `<index>` and `<index>-*`."""
    return {
        "index_patterns": [index, f"{index}-*"],
        "priority": 200,
        "template": {
            "settings": {
                "number_of_shards": 1,
                "analysis": {"analyzer": {"news_text": {"type": "cjk"}}},
            },
            "mappings": {
                "dynamic": "strict",
                "dynamic_templates": [{"probabilities": {"path_match": "*.probabilities.*", "mapping": SCORE}}],
                "properties": model_properties(document_model(tasks.names)),
            },
        },
    }
