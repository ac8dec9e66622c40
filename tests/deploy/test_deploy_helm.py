"""The Helm chart: lints, renders for every value set, validates against Kubernetes' schemas, and
wires what the services need (env, ports, probes, GPUs, autoscaling)."""

from __future__ import annotations

import base64
import copy
import ipaddress
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
    NOT_IN_CHART,
    OPTIONAL_ENV,
    SECRET_ENV,
    containers,
    deployment,
    env_names,
    helm,
    of_kind,
    render,
    settings_classes,
    settings_env_names,
    template_args,
)

#: The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest with schemas.
KUBE_VERSIONS = ("1.27", kubernetes_validate.latest_version())
CUSTOM_KINDS = {"ScaledObject", "TriggerAuthentication", "ServiceMonitor", "PodMonitoring"}
GPU_SET = "gpu-keda-values"
MINIMAL = "minimal-values"
CPU_SET = "cpu-values"
PORTS = {"coordinator": 8080, "solver": 8090, "adapter": 8091}


LOOPBACK_V4 = ipaddress.ip_network("127.0.0.0/8")
MINIMAL_VALUES = CHART / "ci" / f"{MINIMAL}.yaml"


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
    assert checked >= 2 * 3 * 9  # a rendering that lost its objects would pass vacuously


def test_the_schema_validation_is_not_vacuous(renderings) -> None:
    broken = copy.deepcopy(deployment(renderings[MINIMAL], "workers"))
    broken["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "8091"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBE_VERSIONS[-1], strict=True)
    broken = copy.deepcopy(deployment(renderings[MINIMAL], "workers"))
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
    assert trigger["type"] == "prometheus"  # the default: KEDA marks gcp-pubsub deprecated
    assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
    meta = trigger["metadata"]
    assert meta["serverAddress"] == ("https://monitoring.googleapis.com/v1/projects/"
                                     f"{values['pubsub']['projectId']}/location/global/prometheus")
    assert 'subscription_id="work-requested-adapter"' in meta["query"]
    assert meta["query"].startswith("sum(pubsub_googleapis_com:subscription_num_undelivered_messages{")
    assert (meta["threshold"], meta["activationThreshold"]) == ("2", "0")
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
    kinds = {doc["kind"] for doc in renderings[MINIMAL]}
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


def test_the_services_accept_the_values_the_chart_renders(renderings, monkeypatch) -> None:
    """Each role's settings load from the env the chart writes (secrets aside): a number Helm prints
    as ``1e+06`` would stop an integer setting's service at start."""
    for name, docs in renderings.items():
        for role, container in containers(docs).items():
            env = {item["name"]: item["value"] for item in container["env"] if "value" in item}
            for var in settings_env_names(role) | env.keys():
                monkeypatch.delenv(var, raising=False)
            for var, value in env.items():
                monkeypatch.setenv(var, value)
            for settings in settings_classes(role):
                try:
                    settings()
                except ValueError as exc:
                    pytest.fail(f"{name}: {role} refuses its env: {exc}")


@pytest.mark.parametrize("role", sorted(ALWAYS_ENV))
def test_the_chart_sets_what_the_services_settings_read(role: str) -> None:
    read = settings_env_names(role)
    forgotten = read - ALWAYS_ENV[role] - OPTIONAL_ENV[role] - NOT_IN_CHART[role].keys()
    assert not forgotten, f"{role} reads {sorted(forgotten)}, which the chart and compose never set"
    # The deliberate omissions are names the role reads today, none of them set by the chart.
    stale = NOT_IN_CHART[role].keys() - read
    assert not stale, f"{role} no longer reads {sorted(stale)}: drop them from NOT_IN_CHART"
    assert not NOT_IN_CHART[role].keys() & (ALWAYS_ENV[role] | OPTIONAL_ENV[role])


def test_secret_env_comes_from_the_secret(renderings) -> None:
    docs = renderings[GPU_SET]
    [secret] = of_kind(docs, "Secret")
    for container in containers(docs).values():
        for var, item in env_map(container).items():
            if var in SECRET_ENV:
                ref = item["valueFrom"]["secretKeyRef"]
                # Only the signing secrets may be absent; the coordinator is exposed here, so its
                # API keys are as mandatory as the solver token.
                assert ref == {"name": secret["metadata"]["name"], "key": SECRET_ENV[var],
                               "optional": var in ("CALLBACK_SIGNING_SECRET", "CALLBACK_SIGNING_KEYS")}
                assert SECRET_ENV[var] in secret["data"]
            else:
                assert "valueFrom" not in item
    # An existing Secret: the chart writes none and points at it.
    docs = renderings["cpu-values"]
    assert not of_kind(docs, "Secret")
    refs = {item["valueFrom"]["secretKeyRef"]["name"]
            for c in containers(docs).values() for item in c["env"] if item["name"] in SECRET_ENV}
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


def test_keda_on_means_no_worker_hpa(renderings) -> None:
    for docs in renderings.values():
        if of_kind(docs, "ScaledObject"):
            hpa_targets = [h["spec"]["scaleTargetRef"]["name"]
                           for h in of_kind(docs, "HorizontalPodAutoscaler")]
            assert deployment(docs, "workers")["metadata"]["name"] not in hpa_targets
    # Workers have no CPU HPA at all (a busy solver uses every core whatever the backlog).
    assert not [h for docs in renderings.values() for h in of_kind(docs, "HorizontalPodAutoscaler")
                if h["metadata"]["labels"]["app.kubernetes.io/component"] == "workers"]


def test_termination_grace_covers_a_solve(renderings) -> None:
    for docs in renderings.values():
        pod = deployment(docs, "workers")["spec"]["template"]["spec"]
        roles = {c["name"]: c for c in pod["containers"]}
        adapter = {k: v["value"] for k, v in env_map(roles["adapter"]).items() if "value" in v}
        solver = {k: v["value"] for k, v in env_map(roles["solver"]).items() if "value" in v}
        solve = int(solver["SOLVER_TIMEOUT_SECONDS"])
        worker_timeout = int(adapter["WORKER_TIMEOUT_SECONDS"])
        grace = int(adapter["ADAPTER_SHUTDOWN_GRACE_SECONDS"])
        assert solve < worker_timeout < grace < pod["terminationGracePeriodSeconds"]
        # The worker server outlives the adapter's drain.
        assert roles["solver"]["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", str(grace)]


@pytest.mark.parametrize("bad", [
    "workers.adapter.shutdownGraceSeconds=200",  # beyond terminationGracePeriodSeconds
    "workers.solver.timeoutSeconds=70",           # not below the adapter's worker timeout
    "workers.adapter.shutdownGraceSeconds=70",    # equal to the worker timeout: no time to publish
])
def test_inconsistent_timeouts_are_refused(helm_bin: Path, bad: str) -> None:
    result = helm(helm_bin, *template_args(MINIMAL_VALUES, bad))
    assert result.returncode != 0
    assert "must be" in result.stderr


@pytest.mark.parametrize("bad", [
    "workers.solver.backend=cuda",
    "coordinator.port=0",
    "keda.mode=QueueLength",
    "pubsub.projectId=Not_A_Project",
    "workers.gpu.count=0",
    "coordinatr.replicaCount=2",
    "workers.autoscaling.enabled=true",  # the CPU HPA is gone: the schema says so
    "keda.enabled=true,pubsub.emulatorHost=pubsub-emulator:8085",  # KEDA reads Cloud Monitoring
    "serviceAccount.create=false,serviceAccount.gcpServiceAccount=atto-work@my-atto-project.iam.gserviceaccount.com",
    "coordinator.forwardedAllowIps=ingress.local",
])
def test_values_schema_rejects_bad_values(helm_bin: Path, bad: str) -> None:
    result = helm(helm_bin, *template_args(MINIMAL_VALUES, bad))
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
            assert labels["helm.sh/chart"] == "atto-work-0.2.0"  # 0.2: values changed incompatibly
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
            assert pod["serviceAccountName"] in accounts or name == CPU_SET
            for container in pod["containers"]:
                assert container["securityContext"]["readOnlyRootFilesystem"] is True
                assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda v: v.stem)
def test_notes_render_with_a_request_example(helm_bin: Path, values: Path) -> None:
    args = ["install", "atto", str(CHART), "--dry-run=client", "--namespace", "atto-ns"]
    result = helm(helm_bin, *args, "-f", str(values))
    assert result.returncode == 0, result.stderr
    notes = result.stdout.split("NOTES:", 1)[1]
    assert 'curl -sS -X POST "$URL/works/' in notes
    assert "URL=" in notes


# --- issue 12: the chart on a real GKE cluster ------------------------------------------------------
def rendered(helm_bin: Path, *sets: str, values: Path = MINIMAL_VALUES) -> list[dict[str, Any]]:
    return render(helm_bin, values, *sets)


def refused(helm_bin: Path, *sets: str, values: Path | None = MINIMAL_VALUES) -> str:
    result = helm(helm_bin, *template_args(values, *sets))
    assert result.returncode != 0, f"{sets} was accepted"
    return result.stderr


PROMETHEUS = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "gmp-system"}}}


def pod_spec(docs: list[dict[str, Any]], component: str) -> dict[str, Any]:
    return deployment(docs, component)["spec"]["template"]["spec"]


def test_an_ingress_without_hosts_is_refused(helm_bin: Path) -> None:
    result = helm(helm_bin, *template_args(MINIMAL_VALUES, "coordinator.ingress.enabled=true",
                                           "coordinator.allowAnonymous=true"),
                  "--set-json", "coordinator.ingress.hosts=[]")
    assert result.returncode != 0, "an Ingress without rules was accepted"
    assert "schema" in result.stderr.lower() and "hosts" in result.stderr


def test_gke_ingress_class_is_the_annotation_gke_reads(renderings, helm_bin: Path) -> None:
    [ingress] = of_kind(renderings[GPU_SET], "Ingress")
    assert ingress["metadata"]["annotations"]["kubernetes.io/ingress.class"] == "gce"
    assert "ingressClassName" not in ingress["spec"]  # GKE ignores it: no load balancer, no error
    [ingress] = of_kind(rendered(helm_bin, "coordinator.ingress.className=gce-internal",
                                 values=CHART / "ci" / f"{GPU_SET}.yaml"), "Ingress")
    assert ingress["metadata"]["annotations"]["kubernetes.io/ingress.class"] == "gce-internal"
    [ingress] = of_kind(rendered(helm_bin, "coordinator.ingress.className=nginx",
                                 values=CHART / "ci" / f"{GPU_SET}.yaml"), "Ingress")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert "kubernetes.io/ingress.class" not in ingress["metadata"]["annotations"]


@pytest.mark.parametrize("exposure", ["coordinator.ingress.enabled=true",
                                      "coordinator.service.type=LoadBalancer"])
def test_an_exposed_coordinator_without_api_keys_is_refused(helm_bin: Path, exposure: str) -> None:
    assert "without API keys" in refused(helm_bin, exposure)
    # Asked for explicitly, anonymous access renders, and the keys stay optional.
    docs = rendered(helm_bin, exposure, "coordinator.allowAnonymous=true")
    ref = env_map(containers(docs)["coordinator"])["COORDINATOR_API_KEYS"]["valueFrom"]["secretKeyRef"]
    assert ref["optional"] is True


def test_an_exposed_coordinator_needs_the_key_of_an_existing_secret(helm_bin: Path) -> None:
    docs = rendered(helm_bin, "coordinator.ingress.enabled=true", "secrets.existingSecret=synced-later")
    assert not of_kind(docs, "Secret")
    refs = {name: item["valueFrom"]["secretKeyRef"] for c in containers(docs).values()
            for name, item in env_map(c).items() if "valueFrom" in item}
    # A Secret not synced yet (or a typo) keeps the pods from starting instead of serving without keys.
    assert refs["COORDINATOR_API_KEYS"] == {"name": "synced-later", "key": "coordinator-api-keys",
                                            "optional": False}
    assert refs["SOLVER_TOKEN"]["optional"] is False
    assert "secrets.existingSecret" in refused(helm_bin, "secrets.create=false")


def test_notes_say_the_exposed_coordinator_requires_api_keys(helm_bin: Path) -> None:
    result = helm(helm_bin, "install", "atto", str(CHART), "--dry-run=client", "-f",
                  str(CHART / "ci" / f"{GPU_SET}.yaml"))
    assert result.returncode == 0, result.stderr
    notes = result.stdout.split("NOTES:", 1)[1]
    assert "requires API keys" in notes and "coordinator-api-keys" in notes
    assert "fail closed" in notes


def test_a_solver_token_is_generated_when_none_is_given(renderings) -> None:
    [secret] = of_kind(renderings[MINIMAL], "Secret")
    token = base64.b64decode(secret["data"]["solver-token"]).decode()
    assert len(token) == 48 and token.isalnum()
    for role in ("adapter", "solver"):
        ref = env_map(containers(renderings[MINIMAL])[role])["SOLVER_TOKEN"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": secret["metadata"]["name"], "key": "solver-token", "optional": False}


def test_network_policies_by_default(renderings) -> None:
    for name, docs in renderings.items():
        policies = {p["metadata"]["labels"]["app.kubernetes.io/component"]: p["spec"]
                    for p in of_kind(docs, "NetworkPolicy")}
        assert set(policies) == {"coordinator", "workers"}, name
        for component, spec in policies.items():
            labels = deployment(docs, component)["spec"]["template"]["metadata"]["labels"]
            assert spec["podSelector"]["matchLabels"].items() <= labels.items()
            assert spec["policyTypes"] == ["Ingress", "Egress"]
            dns = {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}
            assert dns in spec["egress"]
            metadata_server = [{"ipBlock": {"cidr": "169.254.169.252/32"}}]  # Workload Identity
            assert [r for r in spec["egress"] if r.get("to") == metadata_server] == [
                {"to": metadata_server, "ports": [{"port": 988, "protocol": "TCP"}]}]
        # The coordinator: its one port, from the Google load balancers and Prometheus only.
        [rule] = policies["coordinator"]["ingress"]
        assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
        assert {"ipBlock": {"cidr": "130.211.0.0/22"}} in rule["from"]
        assert {"ipBlock": {"cidr": "35.191.0.0/16"}} in rule["from"]
        assert PROMETHEUS in rule["from"]
        assert len(rule["from"]) == 3
        # Workers: nothing but Prometheus, on the metrics ports.
        [rule] = policies["workers"]["ingress"]
        assert rule["from"] == [PROMETHEUS]
        assert {p["port"] for p in rule["ports"]} == {"adapter-http", "solver-http"}
        # Egress to public addresses only (callbacks, Google APIs); workers only on 443.
        public = [r for r in policies["workers"]["egress"]
                  if r.get("to", [{}])[0].get("ipBlock", {}).get("cidr") == "0.0.0.0/0"]
        assert [r["ports"] for r in public] == [[{"port": 443, "protocol": "TCP"}]]
        assert "10.0.0.0/8" in public[0]["to"][0]["ipBlock"]["except"]
    # Private callback receivers the coordinator may reach are opened to it, and only those.
    [egress] = [p["spec"]["egress"] for p in of_kind(renderings[GPU_SET], "NetworkPolicy")
                if p["metadata"]["labels"]["app.kubernetes.io/component"] == "coordinator"]
    assert {"to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}, {"ipBlock": {"cidr": "10.21.0.0/16"}}]} in egress
    # The emulator of the CPU set is reachable on its port; extra egress (Memorystore) is added.
    for policy in of_kind(renderings[CPU_SET], "NetworkPolicy"):
        emulator = {"to": [{"namespaceSelector": {}}], "ports": [{"port": 8085, "protocol": "TCP"}]}
        assert emulator in policy["spec"]["egress"]
        assert {"to": [{"ipBlock": {"cidr": "10.30.0.5/32"}}],
                "ports": [{"port": 6379, "protocol": "TCP"}]} in policy["spec"]["egress"]


def test_network_policies_can_be_switched_off(helm_bin: Path) -> None:
    assert not of_kind(rendered(helm_bin, "networkPolicy.enabled=false"), "NetworkPolicy")


def test_the_adapter_sizes_its_own_read_ahead_by_default(renderings) -> None:
    for name in (MINIMAL, GPU_SET):
        adapter = containers(renderings[name])["adapter"]
        assert "PUBSUB_SUBSCRIBER_MAX_OUTSTANDING_ELEMENT_COUNT" not in env_names(adapter)
    adapter = env_map(containers(renderings[CPU_SET])["adapter"])
    assert adapter["PUBSUB_SUBSCRIBER_MAX_OUTSTANDING_ELEMENT_COUNT"]["value"] == "3"


def test_rollouts_and_drains(renderings, helm_bin: Path) -> None:
    for docs in renderings.values():
        budgets = {b["metadata"]["labels"]["app.kubernetes.io/component"]: b["spec"]
                   for b in of_kind(docs, "PodDisruptionBudget")}
        assert budgets["workers"]["maxUnavailable"] == 1
        for spec in budgets.values():
            assert "minAvailable" not in spec  # minAvailable 1 at one replica blocks every drain
        coordinator = deployment(docs, "coordinator")
        pod = coordinator["spec"]["template"]["spec"]
        [container] = pod["containers"]
        delay = int(container["lifecycle"]["preStop"]["exec"]["command"][1])
        assert container["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
        assert 10 <= delay < pod["terminationGracePeriodSeconds"]
        assert coordinator["spec"]["progressDeadlineSeconds"] >= 600
        assert deployment(docs, "workers")["spec"]["progressDeadlineSeconds"] >= 1800
    assert of_kind(renderings[MINIMAL], "PodDisruptionBudget")[0]["spec"]["maxUnavailable"] == 1
    strategy = deployment(renderings[GPU_SET], "workers")["spec"]["strategy"]
    assert strategy == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
    assert "schema" in refused(helm_bin, "coordinator.podDisruptionBudget.minAvailable=1").lower()
    assert "must be" in refused(helm_bin, "coordinator.preStopSeconds=60")


def test_keda_has_a_fallback_behaviour_and_both_scalers(renderings, helm_bin: Path) -> None:
    [scaled] = of_kind(renderings[GPU_SET], "ScaledObject")
    assert scaled["spec"]["fallback"] == {"failureThreshold": 3, "replicas": 1}
    behavior = scaled["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == 300
    # KEDA applies a fallback only to AverageValue metrics.
    assert scaled["spec"]["triggers"][0]["metricType"] == "AverageValue"
    docs = rendered(helm_bin, "keda.scaler=gcp-pubsub", "keda.value=4",
                    values=CHART / "ci" / f"{GPU_SET}.yaml")
    [trigger] = of_kind(docs, "ScaledObject")[0]["spec"]["triggers"]
    assert trigger["type"] == "gcp-pubsub" and trigger["metricType"] == "AverageValue"
    assert trigger["metadata"] == {
        "subscriptionName": "projects/my-atto-project/subscriptions/work-requested-adapter",
        "mode": "SubscriptionSize", "value": "4", "activationValue": "0"}


def test_pod_monitorings_select_pods_and_their_named_ports(renderings) -> None:
    monitors = of_kind(renderings[GPU_SET], "PodMonitoring")
    assert len(monitors) == 2
    for monitor in monitors:
        assert monitor["apiVersion"] == "monitoring.googleapis.com/v1"
        component = monitor["metadata"]["labels"]["app.kubernetes.io/component"]
        template = deployment(renderings[GPU_SET], component)["spec"]["template"]
        assert monitor["spec"]["selector"]["matchLabels"].items() <= template["metadata"]["labels"].items()
        ports = {p["name"] for c in template["spec"]["containers"] for p in c["ports"]}
        assert {e["port"] for e in monitor["spec"]["endpoints"]} == ports
        assert all(e["path"] == "/metrics" for e in monitor["spec"]["endpoints"])


def test_image_and_project_are_required(helm_bin: Path) -> None:
    assert "image.repository is required" in refused(helm_bin, values=None)
    assert "pubsub.projectId is required" in refused(helm_bin, "image.repository=r.example/atto", values=None)


def test_rotating_api_keys_restarts_coordinators_only(helm_bin: Path) -> None:
    def checksums(*sets: str) -> dict[str, str]:
        docs = rendered(helm_bin, "secrets.solverToken=a-fixed-solver-token", *sets)
        return {c: deployment(docs, c)["spec"]["template"]["metadata"]["annotations"]["checksum/secret"]
                for c in ("coordinator", "workers")}

    before = checksums("secrets.coordinatorApiKeys=first-key-0123456789")
    after = checksums("secrets.coordinatorApiKeys=second-key-0123456789")
    assert before["coordinator"] != after["coordinator"]
    assert before["workers"] == after["workers"]  # GPU workers keep running
    assert checksums("secrets.solverToken=another-solver-token")["workers"] != before["workers"]


@pytest.mark.parametrize("bad, message", [
    ("keda.enabled=true,keda.minReplicaCount=5,keda.maxReplicaCount=2", "keda.minReplicaCount"),
    ("coordinator.autoscaling.enabled=true,coordinator.autoscaling.minReplicas=5,"
     "coordinator.autoscaling.maxReplicas=2", "coordinator.autoscaling.minReplicas"),
])
def test_min_above_max_replicas_is_refused(helm_bin: Path, bad: str, message: str) -> None:
    assert message in refused(helm_bin, bad)


def test_keda_targets_may_be_numbers_from_set(helm_bin: Path) -> None:
    docs = rendered(helm_bin, "keda.enabled=true", "keda.value=4", "keda.activationValue=1.5")
    meta = of_kind(docs, "ScaledObject")[0]["spec"]["triggers"][0]["metadata"]
    assert (meta["threshold"], meta["activationThreshold"]) == ("4", "1.5")


def test_tmp_volumes_are_bounded(renderings) -> None:
    for docs in renderings.values():
        for component in ("coordinator", "workers"):
            [tmp] = [v for v in pod_spec(docs, component)["volumes"] if v["name"] == "tmp"]
            assert tmp["emptyDir"]["sizeLimit"]


def test_operator_conveniences(renderings) -> None:
    docs = renderings[CPU_SET]
    coordinator, workers = pod_spec(docs, "coordinator"), pod_spec(docs, "workers")
    roles = containers(docs)
    assert roles["coordinator"]["envFrom"] == [{"secretRef": {"name": "atto-work-extra"}}]
    assert roles["solver"]["envFrom"] == [{"configMapRef": {"name": "atto-work-solver-extra"}}]
    assert coordinator["priorityClassName"] == "atto-work-high"
    assert "priorityClassName" not in workers  # per component
    assert pod_spec(renderings[GPU_SET], "workers")["priorityClassName"] == "gpu-workers"
    assert coordinator["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone"
    for component in ("coordinator", "workers"):
        template = deployment(docs, component)["spec"]["template"]
        assert template["metadata"]["labels"]["team"] == "payments"
        # Pod labels never reach the selector (immutable on upgrade).
        assert "team" not in deployment(docs, component)["spec"]["selector"]["matchLabels"]
    assert {"name": "pocl-cache", "emptyDir": {"sizeLimit": "2Gi"}} in workers["volumes"]
    for role in ("adapter", "solver"):
        assert {"name": "pocl-cache", "mountPath": "/var/cache/pocl"} in roles[role]["volumeMounts"]
    # Probe overrides merge into the chart's probes rather than replace them.
    assert roles["coordinator"]["startupProbe"] == {
        "httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 2, "failureThreshold": 120}
    assert roles["solver"]["readinessProbe"]["periodSeconds"] == 10
    assert roles["solver"]["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "solver-http"}


def test_store_url_reaches_every_coordinator(renderings) -> None:
    env = env_map(containers(renderings[GPU_SET])["coordinator"])
    assert env["STORE_URL"] == {"name": "STORE_URL", "value": "redis://10.30.0.5:6379/0"}
    env = env_map(containers(renderings[CPU_SET])["coordinator"])
    assert env["STORE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "atto-work-store", "key": "store-url"}
    assert "STORE_URL" not in env_names(containers(renderings[MINIMAL])["coordinator"])


def test_trusted_proxies_reach_the_coordinator(renderings) -> None:
    env = env_map(containers(renderings[GPU_SET])["coordinator"])
    assert env["FORWARDED_ALLOW_IPS"]["value"] == "130.211.0.0/22,35.191.0.0/16,203.0.113.10"
    # Unset trusts no proxy: X-Forwarded-For is ignored.
    assert "FORWARDED_ALLOW_IPS" not in env_names(containers(renderings[MINIMAL])["coordinator"])


def test_one_service_account_per_component_for_least_privilege(helm_bin: Path) -> None:
    docs = rendered(helm_bin, "serviceAccount.perComponent=true",
                    "serviceAccount.gcpServiceAccount=atto-shared@my-atto-project.iam.gserviceaccount.com",
                    "serviceAccount.gcpServiceAccounts.workers=atto-workers@my-atto-project.iam.gserviceaccount.com")
    accounts = {a["metadata"]["name"]: a for a in of_kind(docs, "ServiceAccount")}
    gsa = {name: account["metadata"]["annotations"]["iam.gke.io/gcp-service-account"]
           for name, account in accounts.items()}
    assert gsa == {"atto-atto-work-coordinator": "atto-shared@my-atto-project.iam.gserviceaccount.com",
                   "atto-atto-work-workers": "atto-workers@my-atto-project.iam.gserviceaccount.com"}
    for component in ("coordinator", "workers"):
        assert pod_spec(docs, component)["serviceAccountName"] == f"atto-atto-work-{component}"


def test_the_readme_gke_values_render_and_validate(helm_bin: Path, tmp_path: Path) -> None:
    """The chart README's production walk-through installs with the values it shows."""
    readme = (CHART / "README.md").read_text()
    start = readme.index("cat > gke-values.yaml <<YAML\n") + len("cat > gke-values.yaml <<YAML\n")
    text = readme[start:readme.index("\nYAML\n", start)]
    for name, value in {"$REGION": "us-central1", "$PROJECT": "my-project", "$REDIS_IP": "10.30.0.5",
                        "$INGRESS_IP": "34.1.2.3"}.items():
        text = text.replace(name, value)
    values = tmp_path / "gke-values.yaml"
    values.write_text(text)
    result = helm(helm_bin, "template", "atto-work", str(CHART), "-f", str(values))  # RELEASE=atto-work
    assert result.returncode == 0, result.stderr
    docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    for doc in docs:
        if doc["kind"] not in CUSTOM_KINDS:
            kubernetes_validate.validate(doc, KUBE_VERSIONS[-1], strict=True)
    [ingress] = of_kind(docs, "Ingress")
    assert ingress["metadata"]["annotations"]["kubernetes.io/ingress.class"] == "gce"
    assert {a["metadata"]["name"] for a in of_kind(docs, "ServiceAccount")} == {
        "atto-work-coordinator", "atto-work-workers"}  # the names the IAM bindings use


def test_callbacks_reach_no_private_network_unless_configured(renderings) -> None:
    # Set explicitly, even empty: the coordinator never relies on a command's default, and no value
    # set opens loopback (a callback could POST to the pod's own endpoints).
    env = env_map(containers(renderings[MINIMAL])["coordinator"])
    assert env["CALLBACK_ALLOWED_NETWORKS"] == {"name": "CALLBACK_ALLOWED_NETWORKS", "value": ""}
    for name, docs in renderings.items():
        allowed = env_map(containers(docs)["coordinator"])["CALLBACK_ALLOWED_NETWORKS"]["value"]
        networks = [ipaddress.ip_network(n.strip()) for n in allowed.split(",") if n.strip()]
        assert not [n for n in networks if n.version == 4 and n.overlaps(LOOPBACK_V4)], name
        assert ipaddress.ip_network("::1/128") not in networks, name
