"""All runtime settings in one place, read from `STREAMPROC_*` environment variables and an optional `.env`."""

from __future__ import annotations

import os
import re
from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from streamproc.errors import UserError
from streamproc.hosts import allowed_host_names, parse_allowed_hosts
from streamproc.tasks import TaskSet, load_tasks

ENV_PREFIX = "STREAMPROC_"
DEFAULT_HOME = Path.home() / ".cache" / "streamproc"

UncertaintyStrategy = Literal["least_confidence", "margin", "entropy", "predicted_loss"]
# The default review budget: 2 % of 50,000 articles a day is 1,000 reviews, what two or three reviewers label in
# a working day at the page's pace; the fixed threshold (0.9) queued 20-43 % (docs/reviewing.md).
DEFAULT_REVIEW_SHARE = 0.02
OFF = ("off", "none", "0", "")
# Texts per forward pass of a relabel batch on a CPU: what a live batch may wait for. Measured (docs/performance.md):
# 8 headlines at a time relabeled as fast as 32 on the 2-core machine, and a live batch waits a quarter as long.
CPU_RELABEL_CHUNK = 8


class Settings(BaseSettings):
    """Every setting has an environment variable `STREAMPROC_<NAME>` (upper case)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        allow_inf_nan=False,  # no setting can work with NaN or infinity
    )

    # --- Kafka -----------------------------------------------------------------------------------
    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", description="host:port[,host:port...]")
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_session_timeout: float = Field(
        30.0, ge=3, le=300, description="seconds before a silent (e.g. killed) worker's partitions move"
    )
    worker_instance_id: str | None = Field(
        None,
        min_length=1,
        description="stable name of this worker (host, pod or GPU): a restarted worker gets its partitions back "
        "at once (Kafka static membership) instead of after the session timeout",
    )
    consumer_group: str = Field("streamproc", min_length=1, description="Kafka consumer group / Faust app id")
    topic_raw: str = Field("news.raw", min_length=1)
    topic_deadletter: str = Field("news.deadletter", min_length=1)
    topic_relabel: str = Field(
        "news.relabel", min_length=1, description="relabel work items (article ids), consumed after news.raw"
    )
    topic_partitions: int = Field(4, ge=1, le=1024)
    topic_replication: int = Field(1, ge=1, le=16)
    kafka_empty_fetch_floor: float = Field(
        0.1, ge=0, le=5, description="least seconds between empty fetches (brokers that answer at once)"
    )

    max_replays: int = Field(
        3, ge=0, le=1000, description="times `streamproc deadletter replay` sends one record back before refusing it"
    )

    # --- Elasticsearch ---------------------------------------------------------------------------
    es_url: str = "http://127.0.0.1:9200"
    es_username: str | None = None
    es_password: SecretStr | None = None
    es_api_key: SecretStr | None = None
    es_ca_certs: Path | None = None
    es_index: str = Field("news-enriched", pattern=r"^[a-z0-9][a-z0-9._-]*$")

    # --- Redis review queue ----------------------------------------------------------------------
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_password: SecretStr | None = None
    review_key_prefix: str = Field("streamproc:review", min_length=1)
    review_queue_max: int = Field(
        10_000, ge=1, description="longest review queue; when full, the least uncertain waiting articles are dropped"
    )
    review_lease_seconds: float = Field(600.0, gt=0, description="how long a claimed article stays with its reviewer")
    review_web_host: str = Field("127.0.0.1", description="bind address of `streamproc review serve`")
    review_web_port: int = Field(8066, ge=1, le=65535)
    review_session_hours: float = Field(
        12.0, gt=0, le=24 * 30, description="how long a reviewer's login to the review page lasts"
    )
    review_votes: int = Field(
        1,
        ge=1,
        le=9,
        description="agreeing votes (of different reviewers) that decide an item; after 2k-1 votes without k "
        "agreeing, a task stays unlabelled (disputed)",
    )
    story_threshold: float = Field(
        0.5,
        gt=0,
        le=1,
        description="MinHash similarity of character 5-grams (estimated Jaccard) at or above which an article "
        "is a copy of an earlier one and joins its story (chosen by `streamproc bench duplicates`)",
    )
    story_days: float = Field(
        7.0, gt=0, le=365, description="how long a story takes new copies after it last grew (its Redis keys expire)"
    )

    # --- Models and inference --------------------------------------------------------------------
    model_store: Path = Field(DEFAULT_HOME / "models", description="where built and trained models live")
    tasks_file: Path | None = Field(
        None, description="the task file (TOML) naming the tasks and their labels; default: the built-in one"
    )
    multitask_model_dir: Path | None = Field(None, description="one encoder with a head per task (a model link)")
    task_model_dirs: dict[str, Path] = Field(
        default_factory=dict,
        description='separate model folders per task instead, as JSON: {"task": "folder", ...}',
    )
    data_dir: Path = Field(Path("../shared/data"), description="labeled TSV sets used to build default models")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    torch_threads: int | None = Field(
        None, ge=1, description="CPU threads for inference; default: every usable core (cores / N under --processes N)"
    )
    max_tokens: int = Field(256, ge=8, le=4096)
    batch_size: int = Field(32, ge=1, le=4096)
    batch_max_wait: float = Field(0.5, gt=0, le=60, description="seconds to wait for a batch to fill")
    max_article_bytes: int = Field(262_144, ge=256, description="larger records are dead-lettered")
    uncertainty_strategy: UncertaintyStrategy = "margin"
    # 0.9 with margin queues about 16% of Korean headlines under the default model (README, Models).
    review_threshold: float = Field(
        0.9, ge=0, description="an article goes to review when its uncertainty (any reviewed task) >= this"
    )
    review_share: float | None = Field(
        DEFAULT_REVIEW_SHARE,
        gt=0,
        lt=1,
        description="review budget: queue about this share of articles (the least certain); estimated online, "
        "shared by all workers through Redis; `off` uses the fixed review_threshold instead",
    )
    audit_share: float | None = Field(
        None,
        gt=0,
        le=1,
        description="audit sample: this share of all articles (chosen by a hash of the id, e.g. 0.01) is queued "
        "for a blind review, so `streamproc quality` can say how often the labels are right",
    )
    drift_window: int = Field(
        500, ge=20, le=1_000_000, description="articles per window of the label-mix drift watch (per worker)"
    )
    drift_alert: float = Field(
        0.25, gt=0, description="population stability index of a window's label mix that logs a WARNING"
    )
    review_share_warmup: int = Field(
        500, ge=1, description="uncertainties seen before the budget replaces the fixed threshold"
    )
    review_share_window: int = Field(
        50_000, ge=100, description="the budget's quantile covers the last window to 2x window articles"
    )
    inference_precision: Literal["auto", "float32", "float16", "bfloat16", "int8"] = Field(
        "auto", description="auto: bfloat16/float16 on a GPU, float32 on CPU; int8: quantised encoder (CPU)"
    )

    # --- Worker ----------------------------------------------------------------------------------
    web_host: str = "127.0.0.1"
    web_port: int = Field(6066, ge=1, le=65535)
    allowed_hosts: str = Field(
        "",
        description="host names (comma-separated) that the review page and the worker's web server answer to "
        "besides 127.0.0.1, localhost, [::1] and their bind address, e.g. the public name behind a proxy; "
        "requests for any other Host get HTTP 400 (DNS rebinding)",
    )
    sink_retry_initial: float = Field(0.5, gt=0, le=60, description="first back-off (s) when a sink is down")
    sink_retry_max: float = Field(30.0, gt=0, le=3600, description="longest back-off (s) between sink retries")
    stall_after: float = Field(
        60.0,
        gt=0,
        le=86400,
        description="seconds a partition may have lag without its committed offset moving before it is reported "
        "stalled (log line, metric, /health answers 503)",
    )
    log_format: Literal["text", "json"] = Field("text", description="worker log lines as text or one JSON object each")
    model_poll_seconds: float = Field(
        5.0, gt=0, description="how often a worker checks whether another model version was promoted"
    )
    relabel_batch_size: int | None = Field(
        None, ge=1, le=4096, description="stored articles per relabel batch; default: batch_size"
    )
    relabel_chunk_size: int | None = Field(
        None,
        ge=1,
        le=4096,
        description="texts per forward pass of a relabel batch (a live batch waits for at most one); default: "
        f"{CPU_RELABEL_CHUNK} on a CPU, the whole relabel batch on a GPU",
    )
    relabel_max_live_lag: int | None = Field(
        None,
        ge=0,
        description="relabeling waits while the live consumer group's lag on news.raw is above this many records; "
        "default: 2 x batch_size",
    )
    relabel_after_promotion: bool = Field(
        False, description="when a worker switches to a promoted model, queue the relabel of the stored articles"
    )

    # --- Local stack -----------------------------------------------------------------------------
    stack_dir: Path = Field(DEFAULT_HOME / "stack", description="data and logs of the embedded local stack")
    stack_mode: Literal["auto", "local", "external"] = Field(
        "auto", description="auto: start local servers when the URLs point at loopback"
    )

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _check_bootstrap(cls, value: str) -> str:
        for server in value.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port...], got {value!r}")
        return value

    @field_validator("review_share", mode="before")
    @classmethod
    def _share_off(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and value.strip().lower() in OFF):
            return None
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _check_allowed_hosts(cls, value: str) -> str:
        return ",".join(parse_allowed_hosts(value))

    @field_validator("es_url", "redis_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if not parts.scheme or not parts.hostname:
            raise ValueError(f"expected a URL such as http://host:port, got {value!r}")
        return value

    @model_validator(mode="after")
    def _check_workable(self) -> Settings:
        """Refuse at once what would only fail later: a model folder that is not there, back-offs that invert."""
        folders = [("MULTITASK_MODEL_DIR", self.multitask_model_dir)]
        folders += [(f"TASK_MODEL_DIRS[{task}]", folder) for task, folder in self.task_model_dirs.items()]
        for name, directory in folders:
            if directory is not None and not directory.expanduser().is_dir():
                raise ValueError(
                    f"{ENV_PREFIX}{name}: no model in {directory} (no such directory): point it at a model "
                    "folder, or unset it to use the default built by `streamproc models build-defaults`"
                )
        if self.sink_retry_initial > self.sink_retry_max:
            raise ValueError(
                f"{ENV_PREFIX}SINK_RETRY_INITIAL ({self.sink_retry_initial}) is larger than "
                f"{ENV_PREFIX}SINK_RETRY_MAX ({self.sink_retry_max})"
            )
        return self

    @cached_property
    def tasks(self) -> TaskSet:
        """The tasks of `tasks_file` (the built-in task file when it is not set)."""
        return load_tasks(self.tasks_file)

    @cached_property
    def default_model_dir(self) -> Path:
        """The default one-encoder-two-heads model built by `streamproc models build-defaults`."""
        return self.model_store / "default"

    def host_names(self, bind_host: str) -> frozenset[str]:
        """The `Host` names a web server bound to `bind_host` answers to (`streamproc.hosts`)."""
        return allowed_host_names(self.allowed_hosts.split(",") if self.allowed_hosts else (), bind_host)

    @property
    def relabel_batch(self) -> int:
        """Stored articles per relabel batch."""
        return self.relabel_batch_size or self.batch_size

    def relabel_chunk(self, device: str) -> int:
        """Texts per forward pass of a relabel batch on `device` ("cpu" or "cuda"), at most the batch."""
        if self.relabel_chunk_size:
            return min(self.relabel_chunk_size, self.relabel_batch)
        return min(CPU_RELABEL_CHUNK, self.relabel_batch) if device == "cpu" else self.relabel_batch

    @property
    def relabel_lag_limit(self) -> int:
        """Live lag (records) above which relabeling waits."""
        return self.relabel_max_live_lag if self.relabel_max_live_lag is not None else 2 * self.batch_size

    def bootstrap_list(self) -> list[str]:
        """Kafka bootstrap servers as a list."""
        return [server.strip() for server in self.kafka_bootstrap_servers.split(",")]


# One folder per task used to be one variable per task (STREAMPROC_<TASK>_MODEL_DIR); a user who still sets one
# must not silently get the multi-task model instead.
_RETIRED_MODEL_DIR = re.compile(rf"^{ENV_PREFIX}(?!MULTITASK_)[A-Z0-9_]+_MODEL_DIR$")


def _refuse_retired_settings() -> None:
    for name in sorted(os.environ):
        if _RETIRED_MODEL_DIR.match(name):
            task = name.removeprefix(ENV_PREFIX).removesuffix("_MODEL_DIR").lower()
            raise UserError(
                f"config error: {name} is no longer read: set {ENV_PREFIX}TASK_MODEL_DIRS="
                f'\'{{"{task}": "{os.environ[name]}", ...}}\' (one entry per task) instead'
            )


def _setting_name(loc: tuple[int | str, ...]) -> str:
    field = str(loc[0]) if loc else "settings"
    return ENV_PREFIX + field.upper() if field != "__root__" else "settings"


def load_settings(**overrides: Any) -> Settings:
    """Read the settings; a bad value raises `UserError` naming the environment variable to fix."""
    _refuse_retired_settings()
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        message = error["msg"].removeprefix("Value error, ")
        if not error["loc"]:  # a check across settings: its message names the variables
            raise UserError(f"config error: {message}") from None
        given = error.get("input")
        shown = "" if isinstance(given, dict) or given is None else f" (got {given!r})"
        raise UserError(f"config error: {_setting_name(error['loc'])}: {message}{shown}") from None
    try:
        settings.tasks  # noqa: B018 (read now: a task file that cannot be used is a config error at once)
    except UserError as exc:
        raise UserError(f"config error: {ENV_PREFIX}TASKS_FILE: {exc}") from None
    return settings
