"""Module for the Faust command line: `faust -A streamproc.worker.faust_app worker -l info`."""

from streamproc.config import load_settings
from streamproc.worker.app import create_app

app = create_app(load_settings())
