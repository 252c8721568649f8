"""The configuration reference (docs/configuration.md, once the README's "Configuration") lists every setting."""

from __future__ import annotations

from streamproc.config import Settings
from tests.paths import REPO_ROOT

CONFIGURATION = (REPO_ROOT / "docs" / "configuration.md").read_text()


def test_every_setting_is_documented() -> None:
    missing = [name for name in Settings.model_fields if f"`STREAMPROC_{name.upper()}`" not in CONFIGURATION]
    assert not missing
