"""Module for the Faust command line: `faust -A streamproc.worker.faust_app worker -l info`."""

from streamproc.config import load_settings
from streamproc.redact import install_log_redaction
from streamproc.worker.app import create_app

install_log_redaction()
app = create_app(load_settings())
