"""The one way to start a worker (`streamproc worker`): check the servers, load the models, run Faust."""

from __future__ import annotations

from collections.abc import Callable

from streamproc.config import Settings


def run_worker(settings: Settings, say: Callable[[str], object] = print) -> None:
    """Fail with one line when a server does not answer or the models do not load; else run until stopped."""
    import faust

    from streamproc.health import check_all
    from streamproc.inference.loader import load_pipeline_predictor
    from streamproc.worker.app import create_app

    check_all(settings)
    predictor = load_pipeline_predictor(settings)
    say(f"models: {predictor.versions}; batches of {settings.batch_size} within {settings.batch_max_wait}s")
    faust.Worker(create_app(settings, predictor), loglevel="INFO").execute_from_commandline()
