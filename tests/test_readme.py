"""The README's configuration reference lists every setting."""

from __future__ import annotations

from streamproc.config import Settings
from tests.paths import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    missing = [name for name in Settings.model_fields if f"`STREAMPROC_{name.upper()}`" not in README]
    assert not missing
