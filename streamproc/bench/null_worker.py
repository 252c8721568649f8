"""The benchmark's worker with the null model (`streamproc.bench.null_model`): `python -m streamproc.bench.null_worker`.

Only `streamproc bench pipeline --null-model` starts it; it is the real worker app with the stand-in predictor.
"""

from __future__ import annotations


def main() -> None:
    """Run the Faust worker with the null model until stopped."""
    import faust

    from streamproc.bench.null_model import NullPredictor
    from streamproc.cli.main import setup_logging
    from streamproc.config import load_settings
    from streamproc.worker.app import create_app

    setup_logging()
    settings = load_settings()
    faust.Worker(create_app(settings, NullPredictor(settings.tasks)), loglevel="INFO").execute_from_commandline()


if __name__ == "__main__":
    main()
