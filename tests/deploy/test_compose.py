"""docker-compose.yml, the worker Dockerfile and the Kibana saved objects, checked without a Docker engine."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from packaging.requirements import Requirement

from streamproc.cli.main import app as cli_app
from streamproc.config import ENV_PREFIX, Settings, load_settings
from streamproc.sinks.index_template import index_template
from streamproc.stack.endpoints import endpoints
from streamproc.stack.up import runs_locally
from streamproc.tasks import load_tasks
from tests.paths import REPO_ROOT

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
COMPOSE_TEXT = COMPOSE_FILE.read_text(encoding="utf-8")
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
KIBANA_OBJECTS = REPO_ROOT / "deploy" / "kibana" / "saved-objects.ndjson"
DEPLOY_README = REPO_ROOT / "deploy" / "README.md"
SETTING_NAMES = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
DEFAULT_INDEX = Settings.model_fields["es_index"].default
SERVERS = ("kafka", "elasticsearch", "redis")
WORKERS = [name for name in SERVICES if name == "worker" or name.startswith("worker-")]

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}; `$$` is a literal `$`.
INTERPOLATION = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: str, secret: str = "s3cret") -> str:
    """The value compose would use with an empty shell environment and every required variable set to `secret`."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        operator, argument = match.group(2), match.group(3)
        if operator and operator.endswith("?"):
            return secret
        if operator and operator.endswith("-"):
            return argument
        raise AssertionError(f"${{{match.group(1)}}} has neither a default nor an error message: {value!r}")

    return INTERPOLATION.sub(one, value)


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a dict of strings (compose accepts a mapping or a list of KEY=VALUE)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def labels(service: dict[str, Any]) -> dict[str, str]:
    found = service.get("labels") or {}
    if isinstance(found, list):
        found = dict(item.split("=", 1) for item in found)
    return {str(key): str(value) for key, value in found.items()}


def is_one_shot(name: str) -> bool:
    return labels(SERVICES[name]).get("streamproc.one-shot") == "true"


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """Dependency -> condition (the short list form means service_started)."""
    found = service.get("depends_on") or {}
    if isinstance(found, list):
        return dict.fromkeys(found, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in found.items()}


def command_text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else " ".join(str(part) for part in value)


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, rest = (pending + stripped).partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        pending = ""
    return instructions


# --- images, healthchecks, ports -------------------------------------------------------------------------------


def test_every_service_has_a_pinned_image() -> None:
    for name, service in SERVICES.items():
        image = service.get("image")
        assert image, f"{name}: no image name (built services need an explicit name:tag too)"
        assert "$" not in image, f"{name}: image {image!r} comes from a variable, not pinned in the file"
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: image {image!r} has no tag"
        assert tag != "latest" and re.search(r"\d", tag), f"{name}: image {image!r} is not pinned to a version"


def test_elastic_stack_images_share_one_version() -> None:
    versions = {
        service["image"].rpartition(":")[2]
        for service in SERVICES.values()
        if service["image"].startswith("docker.elastic.co/")
    }
    assert len(versions) == 1, f"Elasticsearch and Kibana must be the same version: {versions}"
    (version,) = versions
    assert version.startswith("8."), "the elasticsearch client in pyproject.toml is pinned to major 8"


def test_long_running_services_have_a_healthcheck_and_one_shots_do_not_restart() -> None:
    for name, service in SERVICES.items():
        healthcheck = service.get("healthcheck") or {}
        if is_one_shot(name):
            assert service.get("restart") == "no", f"one-shot {name} must not be restarted"
            continue
        assert not healthcheck.get("disable"), f"{name}: healthcheck disabled"
        test = healthcheck.get("test")
        assert test and test not in (["NONE"], "NONE"), f"long-running service {name} has no healthcheck"
        assert service.get("restart") in ("unless-stopped", "always", "on-failure"), f"{name}: no restart policy"


def test_dependencies_wait_for_health_or_completion() -> None:
    for name, service in SERVICES.items():
        for dependency, condition in depends_on(service).items():
            assert dependency in SERVICES, f"{name} depends on unknown service {dependency}"
            expected = "service_completed_successfully" if is_one_shot(dependency) else "service_healthy"
            assert condition == expected, f"{name} -> {dependency}: condition {condition}, expected {expected}"


def test_workers_start_after_the_servers_and_provisioning() -> None:
    assert "worker" in WORKERS
    for name in [*WORKERS, "provision"]:
        conditions = depends_on(SERVICES[name])
        for server in SERVERS:
            assert conditions.get(server) == "service_healthy", f"{name} must wait for {server} to be healthy"
    for name in WORKERS:
        assert depends_on(SERVICES[name]).get("provision") == "service_completed_successfully"


def test_published_ports_bind_loopback_only() -> None:
    published = 0
    for name, service in SERVICES.items():
        for port in service.get("ports") or []:
            published += 1
            if isinstance(port, dict):
                assert port.get("host_ip") == "127.0.0.1", f"{name}: {port} is not bound to 127.0.0.1"
            else:
                parts = interpolate(str(port)).split(":")
                assert len(parts) == 3 and parts[0] == "127.0.0.1", f"{name}: {port!r} is not bound to 127.0.0.1"
                assert all(p.isdigit() for p in parts[1:]), f"{name}: {port!r} is not 127.0.0.1:HOST:CONTAINER"
    assert published >= 4, "Kafka, Elasticsearch, Kibana and Redis are reachable from the host"


# --- settings and secrets --------------------------------------------------------------------------------------


def test_every_streamproc_variable_in_the_file_is_a_setting() -> None:
    used = set(re.findall(r"\bSTREAMPROC_[A-Z0-9_]+\b", COMPOSE_TEXT))
    assert used, "the compose file configures streamproc through STREAMPROC_* variables"
    unknown = sorted(used - SETTING_NAMES)
    assert not unknown, f"not settings of streamproc.config.Settings: {unknown}"


@pytest.mark.parametrize("name", ["provision", *WORKERS])
def test_streamproc_environment_is_valid_and_points_at_the_compose_servers(name: str) -> None:
    env = {key: interpolate(value) for key, value in environment(SERVICES[name]).items()}
    overrides = {key.removeprefix(ENV_PREFIX).lower(): value for key, value in env.items() if key in SETTING_NAMES}
    settings = load_settings(_env_file=None, **overrides)
    assert settings.es_index == DEFAULT_INDEX, "Kibana objects and the Elasticsearch role are written for it"
    assert {point.host for point in endpoints(settings).values()} == set(SERVERS)
    assert not runs_locally(settings), "inside compose, `stack up` must never start the embedded stand-ins"
    assert settings.es_username and settings.es_password is not None and settings.redis_password is not None
    model_mounts = [str(v).split(":")[1] for v in SERVICES[name].get("volumes") or []]
    if name in WORKERS:
        assert str(settings.model_store) in model_mounts, f"{name}: the model store must be a mounted volume"


def test_secrets_come_from_env_and_are_required() -> None:
    secret_key = re.compile(r"PASSWORD|API_KEY|SECRET|TOKEN|REDISCLI_AUTH")
    required = set()
    for name, service in SERVICES.items():
        for key, value in environment(service).items():
            if secret_key.search(key):
                match = re.fullmatch(r"\$\{([A-Z0-9_]+):\?[^}]+\}", value)
                assert match, f"{name}: {key} must be ${{VAR:?message}} from .env, not {value!r}"
                required.add(match.group(1))
    assert required == {"ELASTIC_PASSWORD", "KIBANA_PASSWORD", "ES_WORKER_PASSWORD", "REDIS_PASSWORD"}
    readme = DEPLOY_README.read_text(encoding="utf-8")
    for variable in required:
        assert variable in readme, f"deploy/README.md does not say how to set {variable}"
        # STREAMPROC_* names in .env would also be read by `make test` / `make demo` in the same folder.
        assert not variable.startswith(ENV_PREFIX)


def test_no_literal_password_in_commands() -> None:
    for name, service in SERVICES.items():
        text = command_text(service.get("command")) + command_text(service.get("entrypoint"))
        text += json.dumps((service.get("healthcheck") or {}).get("test"))
        for match in re.finditer(r"(?:-u\s+\\?\"?\w+:|requirepass\s+)(\S+)", text):
            assert match.group(1).lstrip("\\\"'").startswith("$"), f"{name}: literal credential in {match.group(0)}"


# --- provisioning and the streamproc image ---------------------------------------------------------------------


def cli_commands() -> dict[str, Any]:
    return typer.main.get_command(cli_app).commands  # type: ignore[attr-defined]


def test_provision_runs_stack_up_and_the_worker_runs_streamproc_worker() -> None:
    provision = (
        command_text(SERVICES["provision"].get("entrypoint")) + " " + command_text(SERVICES["provision"].get("command"))
    )
    assert provision.split() == ["streamproc", "stack", "up"]
    commands = cli_commands()
    assert "worker" in commands and "up" in commands["stack"].commands
    for name in WORKERS:
        assert "entrypoint" not in SERVICES[name] and "command" not in SERVICES[name], "the image runs the worker"
    images = {SERVICES[name]["image"] for name in ("provision", "worker")}
    assert len(images) == 1, "provision runs the same image as the worker"


def test_gpu_reservation_is_optional() -> None:
    gpu = [name for name in WORKERS if SERVICES[name].get("deploy")]
    assert gpu, "a worker service with a GPU reservation"
    for name in gpu:
        devices = SERVICES[name]["deploy"]["resources"]["reservations"]["devices"]
        assert any(d.get("driver") == "nvidia" and "gpu" in d.get("capabilities", []) for d in devices)
        assert SERVICES[name].get("profiles"), f"{name} reserves a GPU: it must be behind a profile"
        assert environment(SERVICES[name]).get("STREAMPROC_DEVICE") == "cuda"
    assert not SERVICES["worker"].get("deploy"), "the default worker must run on hosts without a GPU"


def test_kibana_setup_imports_the_saved_objects_file() -> None:
    service = SERVICES["kibana-setup"]
    script = command_text(service["command"])
    assert "/api/saved_objects/_import" in script and "kbn-xsrf" in script
    mounts = {}
    for volume in service["volumes"]:
        source, target = str(volume).split(":")[:2]
        mounts[target] = (REPO_ROOT / source).resolve()
    used = re.search(r"file=@(\S+)", script)
    assert used, "the import posts a file"
    directory, _, filename = used.group(1).rpartition("/")
    assert mounts[directory] / filename == KIBANA_OBJECTS.resolve()


def build_specs() -> list[dict[str, Any]]:
    return [service["build"] for service in SERVICES.values() if service.get("build")]


def makefile_torch_spec() -> str:
    found = re.search(r"^TORCH_SPEC\s*\?=\s*(\S+)", (REPO_ROOT / "Makefile").read_text(), re.MULTILINE)
    assert found, "Makefile pins TORCH_SPEC"
    return found.group(1)


def test_dockerfile_builds_the_worker_image() -> None:
    specs = build_specs()
    assert specs
    for spec in specs:
        context = (REPO_ROOT / spec["context"]).resolve()
        dockerfile = context / spec["dockerfile"]
        assert dockerfile == (REPO_ROOT / "deploy" / "docker" / "worker.Dockerfile").resolve()
        instructions = dockerfile_instructions(dockerfile)
        (base,) = [args for keyword, args in instructions if keyword == "FROM"]
        assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", base), f"base image {base!r} is not a pinned 3.11-slim"
        args = dict(arg.split("=", 1) for keyword, arg in instructions if keyword == "ARG")
        assert set(spec.get("args", {})) <= set(args), "compose passes build args the Dockerfile does not declare"
        assert args["TORCH_INDEX_URL"].strip('"').endswith("/whl/cpu"), "the default build is the CPU one"
        torch_spec = args["TORCH_SPEC"].strip('"')
        assert torch_spec == makefile_torch_spec() == spec["args"]["TORCH_SPEC"]
        (declared,) = [r for r in _project()["dependencies"] if Requirement(r).name == "torch"]
        assert Requirement(declared).specifier.contains(torch_spec.split("==")[1])
        users = [args for keyword, args in instructions if keyword == "USER"]
        assert users and users[-1] not in ("root", "0"), "the image runs as a non-root user"
        (entrypoint,) = [json.loads(args) for keyword, args in instructions if keyword == "ENTRYPOINT"]
        assert entrypoint == ["streamproc", "worker"]
        assert "streamproc" in _project()["scripts"]


def _project() -> dict[str, Any]:
    import tomllib

    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]


def test_dockerfile_copies_existing_files_that_dockerignore_keeps() -> None:
    dockerfile = REPO_ROOT / "deploy" / "docker" / "worker.Dockerfile"
    ignored = [
        line.strip().rstrip("/")
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert {".env", ".venv", ".git"} <= set(ignored), "secrets, the venv and git history stay out of the image"
    copied = []
    for keyword, args in dockerfile_instructions(dockerfile):
        if keyword in ("COPY", "ADD"):
            parts = [part for part in shlex.split(args) if not part.startswith("--")]
            copied += parts[:-1]
    assert {"pyproject.toml", "README.md", "streamproc", "models"} <= set(copied)
    for source in copied:
        assert (REPO_ROOT / source).exists(), f"COPY {source}: no such file in the build context"
        excluded = [p for p in ignored if fnmatch.fnmatch(source, p) or source.startswith(p + "/")]
        assert not excluded, f"COPY {source} but .dockerignore excludes it ({excluded})"
    # the demo samples are package data: the image must get them
    assert not any(fnmatch.fnmatch("streamproc/demo/sample_articles.jsonl", p) for p in ignored)


def test_worker_image_installs_the_runtime_without_extras() -> None:
    """The worker and `stack up` need no training extra (scikit-learn, SciPy, matplotlib stay out of the image)."""
    dockerfile = REPO_ROOT / "deploy" / "docker" / "worker.Dockerfile"
    targets = []
    for keyword, args in dockerfile_instructions(dockerfile):
        words = shlex.split(args) if keyword == "RUN" else []
        targets += [words[i + 2] for i in range(len(words) - 2) if words[i : i + 2] == ["pip", "install"]]
    project = [t for t in targets if t.startswith(".")]
    assert project == ["."], f"the image should install the project once, without extras: {targets}"


# --- Kibana saved objects --------------------------------------------------------------------------------------


def kibana_objects() -> list[dict[str, Any]]:
    lines = KIBANA_OBJECTS.read_text(encoding="utf-8").splitlines()
    assert lines and all(line.strip() for line in lines), "NDJSON: one object per line, no blank lines"
    return [json.loads(line) for line in lines]


def mapping_has(field: str) -> bool:
    properties = index_template(DEFAULT_INDEX, load_tasks())["template"]["mappings"]["properties"]
    node: dict[str, Any] = {"properties": properties}
    for part in field.split("."):
        if "properties" not in node or part not in node["properties"]:
            return False
        node = node["properties"][part]
    return "type" in node


def test_kibana_objects_are_valid_saved_objects() -> None:
    objects = kibana_objects()
    ids = {(o["type"], o["id"]) for o in objects}
    assert len(ids) == len(objects), "ids are unique per type"
    for o in objects:
        assert {"type", "id", "attributes", "references"} <= set(o), o.get("id")
        assert o["type"] in {"index-pattern", "search", "lens", "visualization", "dashboard"}
        assert re.fullmatch(r"\d+\.\d+\.\d+", o["typeMigrationVersion"])
        assert o["typeMigrationVersion"].split(".")[0] in ("7", "8"), "Kibana 8 rejects versions it does not know"
        for ref in o["references"]:
            assert (ref["type"], ref["id"]) in ids, f"{o['id']} references missing {ref}"
    types = [o["type"] for o in objects]
    assert types.count("lens") + types.count("visualization") >= 2


def test_kibana_data_view_matches_the_index() -> None:
    (view,) = [o for o in kibana_objects() if o["type"] == "index-pattern"]
    attributes = view["attributes"]
    assert fnmatch.fnmatch(DEFAULT_INDEX, attributes["title"]), "the data view pattern matches the index"
    assert fnmatch.fnmatch(f"{DEFAULT_INDEX}-2026.11", attributes["title"]), "and the <index>-* indices"
    assert index_template(DEFAULT_INDEX, load_tasks())["index_patterns"] == [DEFAULT_INDEX, f"{DEFAULT_INDEX}-*"]
    assert attributes["timeFieldName"] == "processed_at" and mapping_has("processed_at")


def test_kibana_review_search_and_charts_use_mapped_fields() -> None:
    objects = kibana_objects()
    searches = {o["id"]: o for o in objects if o["type"] == "search"}
    queries = {"streamproc-needs-review": "needs_review:true", "streamproc-reviewed": "label_source:reviewed"}
    assert set(searches) == set(queries)
    for search_id, query in queries.items():
        search = searches[search_id]
        source = json.loads(search["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
        assert source["query"] == {"query": query, "language": "kuery"}
        for column in search["attributes"]["columns"]:
            assert mapping_has(column), f"saved search column {column} is not in the index mapping"
    charted = set()
    for lens in (o for o in objects if o["type"] == "lens"):
        for layer in lens["attributes"]["state"]["datasourceStates"]["formBased"]["layers"].values():
            for column in layer["columns"].values():
                if column["sourceField"] != "___records___":
                    assert mapping_has(column["sourceField"]), f"{lens['id']}: {column['sourceField']} unmapped"
                    charted.add(column["sourceField"])
    assert {"topic.label", "sentiment.label", "processed_at", "label_source", "review.agrees.topic"} <= charted


def test_compose_and_readme_refer_to_the_same_files() -> None:
    readme = DEPLOY_README.read_text(encoding="utf-8")
    for path in ("deploy/docker/worker.Dockerfile", "deploy/kibana/saved-objects.ndjson"):
        assert (REPO_ROOT / path).is_file()
        assert path in readme or path in COMPOSE_TEXT
    for image in {service["image"] for service in SERVICES.values() if not service.get("build")}:
        assert image.rpartition("/")[2] in readme, f"deploy/README.md does not mention {image}"
