"""The template file in deploy/ is the one the code installs."""

from __future__ import annotations

import json

from streamproc.sinks.index_template import index_template
from tests.paths import REPO_ROOT

FILE = REPO_ROOT / "deploy" / "elasticsearch" / "news-enriched.template.json"


def test_deploy_file_matches_the_code() -> None:
    assert json.loads(FILE.read_text()) == index_template("news-enriched")
