"""docker-compose.yml, checked structurally (no container engine here): services, start-up order on
health checks, the env each role reads, the emulator on all interfaces, the gpu profile."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import pytest
import yaml
from deploy_support import ALWAYS_ENV, COMPOSE_FILE, OPTIONAL_ENV

ROLE_OF = {"coordinator": "coordinator", "adapter": "adapter", "adapter-gpu": "adapter",
           "worker": "solver", "worker-gpu": "solver"}
PORTS = {"coordinator": 8080, "solver": 8090, "adapter": 8091}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict[str, Any]]:
    return compose["services"]


def test_the_stack_and_the_gpu_profile(services) -> None:
    default = {name for name, s in services.items() if "profiles" not in s}
    assert default == {"pubsub", "pubsub-init", "redis", "coordinator", "worker", "adapter", "callback-log"}
    gpu = {name for name, s in services.items() if "gpu" in s.get("profiles", [])}
    assert gpu == {"worker-gpu", "adapter-gpu"}


def test_emulator_listens_on_all_interfaces_with_a_healthcheck(services) -> None:
    emulator = services["pubsub"]
    assert emulator["image"] == "gcr.io/google.com/cloudsdktool/google-cloud-cli:emulators"
    command = emulator["command"]
    assert command.startswith("gcloud beta emulators pubsub start")
    assert "--host-port=0.0.0.0:8085" in command
    assert "--project=${PUBSUB_PROJECT_ID:-atto-work-local}" in command
    assert "8085" in " ".join(emulator["healthcheck"]["test"])
    assert emulator["stop_signal"] == "SIGINT"  # gcloud, PID 1, ignores SIGTERM


def test_startup_order_follows_health_and_completion(services) -> None:
    assert services["pubsub-init"]["depends_on"] == {"pubsub": {"condition": "service_healthy"}}
    assert services["pubsub-init"]["command"][0] == "pubsub-init"
    # Also where the engine ignores the conditions (podman 4.3): it waits for the emulator itself.
    assert services["pubsub-init"]["command"][1] == "--wait"
    assert services["pubsub-init"]["restart"] == "no"  # one-shot
    init_done = {"condition": "service_completed_successfully"}
    assert services["coordinator"]["depends_on"] == {
        "pubsub-init": init_done, "redis": {"condition": "service_healthy"}}
    assert services["coordinator"]["environment"]["STORE_URL"] == "redis://redis:6379/0"
    assert "--appendonly" in services["redis"]["command"]  # pending requests survive a restart
    assert services["adapter"]["depends_on"] == {
        "pubsub-init": init_done, "worker": {"condition": "service_healthy"}}
    assert services["adapter-gpu"]["depends_on"] == {
        "pubsub-init": init_done, "worker-gpu": {"condition": "service_healthy"}}
    # Everything another service waits on as healthy has a health check.
    for service in services.values():
        for dependency, condition in service.get("depends_on", {}).items():
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], dependency


def test_roles_commands_ports_and_readiness_checks(services) -> None:
    for name, role in ROLE_OF.items():
        service = services[name]
        assert service["command"] == [role, "--host", "0.0.0.0", "--port", str(PORTS[role])]
        assert service["healthcheck"]["test"] == [
            "CMD", "python", "/usr/local/bin/atto-work-healthcheck", "/ready"]
    assert services["coordinator"]["ports"] == ["127.0.0.1:${ATTO_WORK_PORT:-8080}:8080"]


#: Optional settings compose leaves to the services' defaults, with the reason.
COMPOSE_LEAVES_UNSET = {
    "SOLVER_DEVICES": "the backend picks the device",
    "ADAPTER_READ_AHEAD": "PUBSUB_SUBSCRIBER_MAX_OUTSTANDING_ELEMENT_COUNT is set: no read-ahead",
    "ADAPTER_READ_AHEAD_MAX_WAIT_SECONDS": "PUBSUB_SUBSCRIBER_MAX_OUTSTANDING_ELEMENT_COUNT is set: "
                                           "no read-ahead",
    "CALLBACK_DNS_SERVERS": "Docker's DNS resolves the stack's own callback receiver",
}


def test_every_env_var_the_services_read_is_set(services) -> None:
    for name, role in ROLE_OF.items():
        env = services[name]["environment"]
        # STORE_URL: compose's coordinator keeps its work state in its redis service.
        expected = ALWAYS_ENV[role] | (OPTIONAL_ENV[role] - COMPOSE_LEAVES_UNSET.keys())
        missing = expected - set(env)
        assert not missing, f"{name} lacks {sorted(missing)}"
        unknown = set(env) - ALWAYS_ENV[role] - OPTIONAL_ENV[role] - {"NVIDIA_DRIVER_CAPABILITIES"}
        assert not unknown, f"{name} sets names no service reads: {sorted(unknown)}"
        if "PUBSUB_EMULATOR_HOST" in expected:
            assert env["PUBSUB_EMULATOR_HOST"] == "pubsub:8085"
            assert env["MESSAGING"] == "pubsub"
    assert services["adapter"]["environment"]["WORKER_URL"] == "http://worker:8090"
    assert services["adapter-gpu"]["environment"]["WORKER_URL"] == "http://worker-gpu:8090"
    # Secrets are passed through from the developer's shell, never written here.
    for name in ("coordinator", "adapter", "worker"):
        env = services[name]["environment"]
        for secret in {"COORDINATOR_API_KEYS", "CALLBACK_SIGNING_SECRET", "CALLBACK_SIGNING_KEYS",
                       "SOLVER_TOKEN"} & set(env):
            assert env[secret] is None, f"{name} hard-codes {secret}"


def test_pubsub_names_match_between_publishers_and_consumers(services) -> None:
    coordinator = services["coordinator"]["environment"]
    adapter = services["adapter"]["environment"]
    init = services["pubsub-init"]["environment"]
    requested = init["PUBSUB_WORK_REQUESTED_TOPIC"]
    assert coordinator["PUBSUB_WORK_REQUESTED_TOPIC"] == requested == "work-requested"
    assert adapter["PUBSUB_WORK_REQUESTED_SUBSCRIPTION"] == init["PUBSUB_WORK_REQUESTED_SUBSCRIPTION"]
    assert adapter["PUBSUB_WORK_GENERATED_TOPIC"] == init["PUBSUB_WORK_GENERATED_TOPIC"] == "work-generated"
    assert coordinator["PUBSUB_WORK_GENERATED_SUBSCRIPTION"] == init["PUBSUB_WORK_GENERATED_SUBSCRIPTION"]
    cancelled = init["PUBSUB_WORK_CANCELLED_TOPIC"]
    assert coordinator["PUBSUB_WORK_CANCELLED_TOPIC"] == adapter["PUBSUB_WORK_CANCELLED_TOPIC"] == cancelled
    projects = {services[n]["environment"]["PUBSUB_PROJECT_ID"]
                for n in ("pubsub-init", "coordinator", "adapter", "adapter-gpu")}
    assert projects == {"${PUBSUB_PROJECT_ID:-atto-work-local}"}


def test_gpu_worker_reserves_an_nvidia_device(services) -> None:
    worker = services["worker-gpu"]
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert "compute" in worker["environment"]["NVIDIA_DRIVER_CAPABILITIES"].split(",")
    assert worker["build"]["dockerfile"] == "docker/Dockerfile.gpu"
    for name in ("worker", "coordinator", "adapter", "pubsub-init"):
        assert services[name]["build"]["dockerfile"] == "docker/Dockerfile"
        assert "deploy" not in services[name]


def test_callbacks_to_the_demo_receiver_are_allowed(compose, services) -> None:
    subnet = compose["networks"]["atto"]["ipam"]["config"][0]["subnet"]
    assert services["coordinator"]["environment"]["CALLBACK_ALLOWED_NETWORKS"] == subnet
    receiver = services["callback-log"]
    assert receiver["command"][-4:] == ["--host", "0.0.0.0", "--port", "8000"]
    for name, service in services.items():
        assert service["networks"] == ["atto"], name


def test_stop_grace_lets_adapters_drain(services) -> None:
    for adapter, worker in (("adapter", "worker"), ("adapter-gpu", "worker-gpu")):
        env = services[adapter]["environment"]
        solve = int(services[worker]["environment"]["SOLVER_TIMEOUT_SECONDS"])
        worker_timeout = int(env["WORKER_TIMEOUT_SECONDS"])
        drain = int(env["ADAPTER_SHUTDOWN_GRACE_SECONDS"])
        assert solve < worker_timeout <= drain
        for name in (adapter, worker):
            grace = services[name]["stop_grace_period"]
            assert grace.endswith("s") and int(grace[:-1]) > drain, name


def test_no_service_opens_loopback_to_callbacks(services) -> None:
    # Only the stack's own network (for callback-log); never a coordinator's own loopback.
    loopback = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]
    for name, service in services.items():
        allowed = service.get("environment", {}).get("CALLBACK_ALLOWED_NETWORKS")
        if allowed is None:
            continue
        allowed = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", allowed)  # ${VAR:-default}: the default
        networks = [ipaddress.ip_network(n.strip()) for n in allowed.split(",") if n.strip()]
        assert networks, name
        opened = [n for n in networks for lo in loopback if n.version == lo.version and n.overlaps(lo)]
        assert not opened, name
