"""The Helm chart: lints, renders for every value set, validates against Kubernetes' schemas, and
wires what the services need (env, ports, probes, GPUs, autoscaling)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from deploy_support import (
    ALWAYS_ENV,
    CHART,
    CI_VALUES,
    OPTIONAL_ENV,
    SECRET_ENV,
    containers,
    deployment,
    env_names,
    helm,
    of_kind,
    settings_env_names,
    template_args,
)

#: The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest with schemas.
KUBE_VERSIONS = ("1.27", kubernetes_validate.latest_version())
CUSTOM_KINDS = {"ScaledObject", "TriggerAuthentication", "ServiceMonitor"}
GPU_SET = "gpu-keda-values"
PORTS = {"coordinator": 8080, "solver": 8090, "adapter": 8091}


def env_map(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container.get("env", [])}


def test_ci_value_sets_include_gpu_keda_ingress_servicemonitor() -> None:
    values = yaml.safe_load((CHART / "ci" / f"{GPU_SET}.yaml").read_text())
    assert values["workers"]["gpu"]["enabled"] is True
    assert values["keda"]["enabled"] is True
    assert values["coordinator"]["ingress"]["enabled"] is True
    assert values["metrics"]["serviceMonitor"]["enabled"] is True


@pytest.mark.parametrize("values", [None, *CI_VALUES], ids=lambda v: v.stem if v else "default")
def test_helm_lint_strict(helm_bin: Path, values: Path | None) -> None:
    args = ["lint", "--strict", str(CHART)] + (["-f", str(values)] if values else [])
    result = helm(helm_bin, *args)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_manifest_validates_against_kubernetes_schemas(renderings) -> None:
    checked = 0
    for name, docs in renderings.items():
        for doc in docs:
            if doc["kind"] in CUSTOM_KINDS:
                continue
            for version in KUBE_VERSIONS:
                try:
                    kubernetes_validate.validate(doc, version, strict=True)
                except kubernetes_validate.ValidationError as exc:
                    pytest.fail(f"{name}: {doc['kind']}/{doc['metadata']['name']} on {version}: "
                                f"{'.'.join(map(str, exc.path))}: {exc.message}")
                checked += 1
    assert checked >= 2 * 3 * 7  # a rendering that lost its objects would pass vacuously


def test_the_schema_validation_is_not_vacuous(renderings) -> None:
    broken = copy.deepcopy(deployment(renderings["default"], "workers"))
    broken["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "8091"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBE_VERSIONS[-1], strict=True)
    broken = copy.deepcopy(deployment(renderings["default"], "workers"))
    broken["spec"]["template"]["spec"]["terminationGracePeriod"] = 5  # a typo strict mode must catch
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBE_VERSIONS[-1], strict=True)


def test_only_custom_resources_lack_a_kubernetes_schema(renderings) -> None:
    for docs in renderings.values():
        for doc in docs:
            if doc["kind"] in CUSTOM_KINDS:
                with pytest.raises(kubernetes_validate.SchemaNotFoundError):
                    kubernetes_validate.validate(doc, KUBE_VERSIONS[-1], strict=True)


def test_keda_objects_have_their_required_fields(renderings) -> None:
    docs = renderings[GPU_SET]
    values = yaml.safe_load((CHART / "ci" / f"{GPU_SET}.yaml").read_text())
    [scaled] = of_kind(docs, "ScaledObject")
    [auth] = of_kind(docs, "TriggerAuthentication")
    assert scaled["apiVersion"] == auth["apiVersion"] == "keda.sh/v1alpha1"
    workers = deployment(docs, "workers")
    target = scaled["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == (
        "apps/v1", "Deployment", workers["metadata"]["name"])
    assert scaled["spec"]["minReplicaCount"] == 0  # scale to zero allowed
    assert scaled["spec"]["maxReplicaCount"] >= 1
    [trigger] = scaled["spec"]["triggers"]
    assert trigger["type"] == "gcp-pubsub"
    assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
    meta = trigger["metadata"]
    assert meta["subscriptionName"] == (
        f"projects/{values['pubsub']['projectId']}/subscriptions/work-requested-adapter")
    assert meta["mode"] in {"SubscriptionSize", "OldestUnackedMessageAge"}
    assert all(isinstance(meta[k], str) and float(meta[k]) >= 0 for k in ("value", "activationValue"))
    assert auth["spec"] == {"podIdentity": {"provider": "gcp"}}
    # The workers Deployment leaves its replica count to KEDA.
    assert "replicas" not in workers["spec"]


def test_service_monitors_select_services_and_their_named_ports(renderings) -> None:
    docs = renderings[GPU_SET]
    monitors = of_kind(docs, "ServiceMonitor")
    assert len(monitors) == 2
    services = of_kind(docs, "Service")
    for monitor in monitors:
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        selector = monitor["spec"]["selector"]["matchLabels"]
        [service] = [s for s in services if selector.items() <= s["metadata"]["labels"].items()]
        port_names = {p["name"] for p in service["spec"]["ports"]}
        assert monitor["spec"]["endpoints"]
        for endpoint in monitor["spec"]["endpoints"]:
            assert endpoint["port"] in port_names
            assert endpoint["path"] == "/metrics"


def test_no_custom_resources_or_optional_objects_by_default(renderings) -> None:
    kinds = {doc["kind"] for doc in renderings["default"]}
    assert not kinds & (CUSTOM_KINDS | {"Ingress", "HorizontalPodAutoscaler"})
    assert {"Deployment", "Service", "ServiceAccount", "Secret", "PodDisruptionBudget"} <= kinds


def test_gpu_limit_only_on_the_worker_server_and_only_when_enabled(renderings) -> None:
    for name, docs in renderings.items():
        gpu = name == GPU_SET
        for role, container in containers(docs).items():
            limits = container.get("resources", {}).get("limits", {})
            requests = container.get("resources", {}).get("requests", {})
            assert "nvidia.com/gpu" not in requests
            if gpu and role == "solver":
                assert limits["nvidia.com/gpu"] == 1
            else:
                assert "nvidia.com/gpu" not in limits, (name, role)
        pod = deployment(docs, "workers")["spec"]["template"]["spec"]
        tolerations = pod.get("tolerations", [])
        if gpu:
            assert pod["nodeSelector"]["cloud.google.com/gke-accelerator"] == "nvidia-l4"
            assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in tolerations
            assert pod["affinity"]["podAntiAffinity"]
            assert all(c["image"].endswith(":0.1.0-gpu") for c in pod["containers"])
        else:
            assert "cloud.google.com/gke-accelerator" not in pod.get("nodeSelector", {})
            assert not [t for t in tolerations if t.get("key") == "nvidia.com/gpu"]
            assert all(not c["image"].endswith("-gpu") for c in pod["containers"])


def test_every_env_var_the_services_read_is_set(renderings) -> None:
    seen_optional: dict[str, set[str]] = {role: set() for role in OPTIONAL_ENV}
    for name, docs in renderings.items():
        for role, container in containers(docs).items():
            names = env_names(container)
            missing = ALWAYS_ENV[role] - names
            assert not missing, f"{name}: {role} lacks {sorted(missing)}"
            unknown = names - ALWAYS_ENV[role] - OPTIONAL_ENV[role]
            assert not unknown, f"{name}: {role} sets names no service reads: {sorted(unknown)}"
            seen_optional[role] |= names & OPTIONAL_ENV[role]
    for role, names in OPTIONAL_ENV.items():
        unexercised = names - seen_optional[role]
        assert not unexercised, f"no ci value set exercises {sorted(unexercised)}"


@pytest.mark.parametrize("role", sorted(ALWAYS_ENV))
def test_the_chart_sets_what_the_services_settings_read(role: str) -> None:
    read = settings_env_names(role)
    forgotten = read - ALWAYS_ENV[role] - OPTIONAL_ENV[role]
    assert not forgotten, f"{role} reads {sorted(forgotten)}, which the chart and compose never set"


def test_secret_env_comes_from_the_secret(renderings) -> None:
    docs = renderings[GPU_SET]
    [secret] = of_kind(docs, "Secret")
    for container in containers(docs).values():
        for var, item in env_map(container).items():
            if var in SECRET_ENV:
                ref = item["valueFrom"]["secretKeyRef"]
                assert ref == {"name": secret["metadata"]["name"], "key": SECRET_ENV[var],
                               "optional": True}
                assert SECRET_ENV[var] in secret["data"]
            else:
                assert "valueFrom" not in item
    # An existing Secret: the chart writes none and points at it.
    docs = renderings["cpu-values"]
    assert not of_kind(docs, "Secret")
    refs = {item["valueFrom"]["secretKeyRef"]["name"]
            for c in containers(docs).values() for item in c["env"] if "valueFrom" in item}
    assert refs == {"atto-work-secrets"}


def test_adapter_calls_the_worker_server_in_its_pod(renderings) -> None:
    for docs in renderings.values():
        roles = containers(docs)
        solver_port = roles["solver"]["ports"][0]["containerPort"]
        assert env_map(roles["adapter"])["WORKER_URL"]["value"] == f"http://127.0.0.1:{solver_port}"


def test_ports_and_probes_match_across_containers_and_services(renderings) -> None:
    for name, docs in renderings.items():
        for role, container in containers(docs).items():
            [port] = container["ports"]
            assert port["containerPort"] == PORTS[role]
            assert container["args"][0] == role
            assert container["args"][1:] == ["--host", "0.0.0.0", "--port", str(PORTS[role])]
            for probe, path in (("startupProbe", "/health"), ("livenessProbe", "/health"),
                                ("readinessProbe", "/ready")):
                assert container[probe]["httpGet"] == {"path": path, "port": port["name"]}, (name, role)
        for component in ("coordinator", "workers"):
            pod = deployment(docs, component)["spec"]["template"]["spec"]
            port_names = [p["name"] for c in pod["containers"] for p in c["ports"]]
            assert len(port_names) == len(set(port_names)), f"{name}: duplicate port names in a pod"
            [service] = [s for s in of_kind(docs, "Service")
                         if s["metadata"]["labels"]["app.kubernetes.io/component"] == component]
            assert service["spec"]["selector"].items() <= (
                deployment(docs, component)["spec"]["template"]["metadata"]["labels"].items())
            for service_port in service["spec"]["ports"]:
                assert service_port["targetPort"] in port_names
        for ingress in of_kind(docs, "Ingress"):
            coordinator_service = deployment(docs, "coordinator")["metadata"]["name"]
            for rule in ingress["spec"]["rules"]:
                for path in rule["http"]["paths"]:
                    assert path["backend"]["service"] == {"name": coordinator_service,
                                                          "port": {"name": "http"}}


def test_keda_on_means_no_worker_hpa(renderings, helm_bin: Path) -> None:
    for docs in renderings.values():
        if of_kind(docs, "ScaledObject"):
            hpa_targets = [h["spec"]["scaleTargetRef"]["name"]
                           for h in of_kind(docs, "HorizontalPodAutoscaler")]
            assert deployment(docs, "workers")["metadata"]["name"] not in hpa_targets
    # The CPU set scales workers with an HPA; adding KEDA is refused rather than doubled.
    assert [h for h in of_kind(renderings["cpu-values"], "HorizontalPodAutoscaler")
            if h["metadata"]["labels"]["app.kubernetes.io/component"] == "workers"]
    result = helm(helm_bin, *template_args(CHART / "ci" / "cpu-values.yaml", "keda.enabled=true"))
    assert result.returncode != 0
    assert "KEDA creates its own HPA" in result.stderr


def test_termination_grace_covers_a_solve(renderings) -> None:
    for docs in renderings.values():
        pod = deployment(docs, "workers")["spec"]["template"]["spec"]
        roles = {c["name"]: c for c in pod["containers"]}
        adapter = {k: v["value"] for k, v in env_map(roles["adapter"]).items() if "value" in v}
        solver = {k: v["value"] for k, v in env_map(roles["solver"]).items() if "value" in v}
        solve = int(solver["SOLVER_TIMEOUT_SECONDS"])
        worker_timeout = int(adapter["WORKER_TIMEOUT_SECONDS"])
        grace = int(adapter["ADAPTER_SHUTDOWN_GRACE_SECONDS"])
        assert solve < worker_timeout <= grace < pod["terminationGracePeriodSeconds"]
        # The worker server outlives the adapter's drain.
        assert roles["solver"]["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", str(grace)]


@pytest.mark.parametrize("bad", [
    "workers.adapter.shutdownGraceSeconds=200",  # beyond terminationGracePeriodSeconds
    "workers.solver.timeoutSeconds=70",           # not below the adapter's worker timeout
])
def test_inconsistent_timeouts_are_refused(helm_bin: Path, bad: str) -> None:
    result = helm(helm_bin, *template_args(None, bad))
    assert result.returncode != 0
    assert "must be" in result.stderr


@pytest.mark.parametrize("bad", [
    "workers.solver.backend=cuda",
    "coordinator.port=0",
    "keda.mode=QueueLength",
    "pubsub.projectId=Not_A_Project",
    "workers.gpu.count=0",
    "coordinatr.replicaCount=2",
])
def test_values_schema_rejects_bad_values(helm_bin: Path, bad: str) -> None:
    result = helm(helm_bin, *template_args(None, bad))
    assert result.returncode != 0, f"{bad} was accepted"
    assert "schema" in result.stderr.lower(), result.stderr


def test_values_schema_describes_every_default_value() -> None:
    """values.yaml and values.schema.json list the same keys (no undocumented or stale keys)."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def keys(node: dict[str, Any], prefix: str = "") -> set[str]:
        out = set()
        for key, sub in node.get("properties", {}).items():
            out.add(prefix + key)
            if sub.get("additionalProperties") is False:
                out |= keys(sub, f"{prefix}{key}.")
        return out

    def value_keys(node: Any, schema_node: dict[str, Any], prefix: str = "") -> set[str]:
        out = set()
        for key, sub in node.items():
            out.add(prefix + key)
            sub_schema = schema_node.get("properties", {}).get(key, {})
            if isinstance(sub, dict) and sub_schema.get("additionalProperties") is False:
                out |= value_keys(sub, sub_schema, f"{prefix}{key}.")
        return out

    assert value_keys(values, schema) == keys(schema) - {"global"}


def test_labels_follow_helm_conventions(renderings) -> None:
    for docs in renderings.values():
        for doc in docs:
            labels = doc["metadata"]["labels"]
            assert labels["app.kubernetes.io/name"] == "atto-work"
            assert labels["app.kubernetes.io/instance"] == "atto"
            assert labels["app.kubernetes.io/managed-by"] == "Helm"
            assert labels["helm.sh/chart"] == "atto-work-0.1.0"
            assert labels["app.kubernetes.io/version"] == "0.1.0"
            assert "namespace" not in doc["metadata"]  # the release's namespace applies


def test_workload_identity_and_security(renderings) -> None:
    [account] = of_kind(renderings[GPU_SET], "ServiceAccount")
    assert account["metadata"]["annotations"]["iam.gke.io/gcp-service-account"] == (
        "atto-work@my-atto-project.iam.gserviceaccount.com")
    assert not of_kind(renderings["cpu-values"], "ServiceAccount")
    for name, docs in renderings.items():
        accounts = {d["metadata"]["name"] for d in of_kind(docs, "ServiceAccount")}
        for component in ("coordinator", "workers"):
            pod = deployment(docs, component)["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsNonRoot"] is True
            assert pod["serviceAccountName"] in accounts or name == "cpu-values"
            for container in pod["containers"]:
                assert container["securityContext"]["readOnlyRootFilesystem"] is True
                assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


@pytest.mark.parametrize("values", [None, *CI_VALUES], ids=lambda v: v.stem if v else "default")
def test_notes_render_with_a_request_example(helm_bin: Path, values: Path | None) -> None:
    args = ["install", "atto", str(CHART), "--dry-run=client", "--namespace", "atto-ns"]
    result = helm(helm_bin, *args, *(["-f", str(values)] if values else []))
    assert result.returncode == 0, result.stderr
    notes = result.stdout.split("NOTES:", 1)[1]
    assert 'curl -sS -X POST "$URL/works/' in notes
    assert "URL=" in notes
