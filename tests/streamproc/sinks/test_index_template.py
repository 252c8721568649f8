"""The files in deploy/ are the ones the code generates for the default task file."""

from __future__ import annotations

import json

from streamproc.kibana.objects import ndjson, saved_objects
from streamproc.sinks.index_template import index_template
from streamproc.tasks import load_tasks
from tests.paths import REPO_ROOT

TEMPLATE = REPO_ROOT / "deploy" / "elasticsearch" / "news-enriched.template.json"
KIBANA = REPO_ROOT / "deploy" / "kibana" / "saved-objects.ndjson"


def test_deploy_template_matches_the_code() -> None:
    assert json.loads(TEMPLATE.read_text()) == index_template("news-enriched", load_tasks())


def test_deploy_kibana_objects_are_the_generated_ones() -> None:
    """Regenerate with `streamproc kibana objects --out deploy/kibana/saved-objects.ndjson`."""
    assert KIBANA.read_bytes() == ndjson(saved_objects(load_tasks(), "news-enriched"))
