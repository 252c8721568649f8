"""Packaging: the training code lives in the top-level `models/` folder and installs as `streamproc_models`.

A top-level import package named `models` would collide with any other distribution that ships one, so the
folder keeps its place in the layout and the import name carries the project's prefix. Everything else is in
pyproject.toml.
"""

from setuptools import find_packages, setup

TRAINING_PACKAGE = "streamproc_models"

setup(
    packages=[
        *find_packages(include=["streamproc", "streamproc.*"]),
        "streamproc.review.templates",  # the review page's HTML (data only: find_packages skips it)
        TRAINING_PACKAGE,
        *(f"{TRAINING_PACKAGE}.{name}" for name in find_packages("models")),
    ],
    package_dir={TRAINING_PACKAGE: "models"},
)
