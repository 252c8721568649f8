"""Model versions: promote re-points the link and records it; rollback goes back; a real folder is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from streamproc.cli.main import _register_plugin_commands, app
from streamproc.config import Settings
from streamproc.errors import UserError
from streamproc_models.registry import find_version, promote, rollback, serving_folder
from tests.tiny_models import build_multihead


def test_promote_list_rollback(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = settings.model_store
    first = build_multihead(store / "tiny" / "tiny-a", seed=1)
    second = build_multihead(store / "tiny" / "tiny-b", seed=2)
    monkeypatch.delenv("STREAMPROC_MULTITASK_MODEL_DIR")  # serve through the model store's `default` link
    settings = Settings()
    promote(settings, first)
    _register_plugin_commands()
    runner = CliRunner()
    done = runner.invoke(app, ["models", "promote", "tiny-2"])  # by version name (tiny_models: tiny-<seed>)
    assert done.exit_code == 0, done.output
    assert serving_folder(settings) == second.resolve() == find_version(settings, "tiny-2")
    listed = runner.invoke(app, ["models", "list"]).output
    assert "tiny-1" in listed and "tiny-2" in listed and "*" in listed
    assert rollback(settings) == first.resolve() and serving_folder(settings) == first.resolve()
    assert (store / "default.history.jsonl").read_text().count("\n") == 3
    with pytest.raises(UserError, match="no model version"):
        find_version(settings, "nope")


def test_a_real_folder_is_not_switched(settings: Settings, tiny_model_dir: Path) -> None:
    # the session's settings point STREAMPROC_MULTITASK_MODEL_DIR at a plain folder
    with pytest.raises(UserError, match="is a folder, not a link"):
        promote(settings, tiny_model_dir)
