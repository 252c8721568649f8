# syntax=docker/dockerfile:1
# The streamproc worker image (also runs `streamproc stack up` for the compose `provision` service).
#
#   docker build -f deploy/docker/worker.Dockerfile -t streamproc-worker:0.1.0 .
#
# torch comes from PyTorch's own index: the CPU build by default. For a CUDA build pass the index that matches
# the host driver, e.g. --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 (see pytorch.org).
FROM python:3.11.13-slim-bookworm

ARG TORCH_SPEC="torch==2.13.0"
ARG TORCH_INDEX_URL="https://download.pytorch.org/whl/cpu"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_VERBOSITY=error \
    STREAMPROC_MODEL_STORE=/models \
    STREAMPROC_STACK_MODE=external

WORKDIR /app

# torch first, in its own layer: it is by far the largest download and changes least often.
RUN pip install --index-url "${TORCH_INDEX_URL}" "${TORCH_SPEC}"

COPY pyproject.toml README.md ./
COPY streamproc ./streamproc
COPY models ./models
# The runtime only: the worker and `stack up` need no training extra (scikit-learn, SciPy, matplotlib: about
# 290 MB); `models/` is copied because the package ships it, its libraries are not installed.
# The torch requirement in pyproject.toml is a range the build above already satisfies, so pip keeps it.
RUN pip install . && rm -rf build ./*.egg-info

# Non-root user; /models is where the model volume is mounted (a fresh named volume inherits this owner).
RUN useradd --system --uid 10001 --create-home --home-dir /home/streamproc streamproc \
    && mkdir -p /models \
    && chown streamproc:streamproc /models
USER streamproc
WORKDIR /home/streamproc

ENTRYPOINT ["streamproc", "worker"]
