"""Deployment files checked offline: kustomize, Kubernetes schemas, checkov, hadolint, compose.

The tools live in .venv-deploy (made by `make test`); kubectl (with kustomize) is on the machine.
"""

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.intake.settings import IntakeSettings
from services.notifier.settings import NotifierSettings
from services.router.settings import RouterSettings
from shared.settings import FlareSettings, ResponderAuthSettings

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".venv-deploy" / "bin"
OVERLAYS = ["dev", "prod"]
KUBERNETES_VERSION = "1.31.0"
# Operator resources: their schemas come with the operators' CRDs, not with Kubernetes.
OPERATOR_KINDS = {"Kafka", "KafkaNodePool", "KafkaTopic", "Cluster"}


def tool(name: str) -> str:
    path = TOOLS / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make test`, which installs the deploy tools")
    return str(path)


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is not installed (it renders the kustomize overlays)")
    result = run(kubectl, "kustomize", f"deploy/k8s/overlays/{request.param}")
    assert result.returncode == 0, result.stderr
    path = tmp_path_factory.mktemp(request.param) / "manifests.yaml"
    path.write_text(result.stdout)
    return path


def objects(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def test_rendered_objects_match_the_kubernetes_schemas(rendered: Path) -> None:
    result = run(tool("kubernetes-validate"), "--strict", "-k", KUBERNETES_VERSION, str(rendered))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    without_schema = {
        line.split("for kind ")[1].split()[0]
        for line in lines
        if "Couldn't find schema for kind" in line
    }
    assert without_schema <= OPERATOR_KINDS
    passed = sum(" passed for resource " in line for line in lines)
    assert passed == sum(doc["kind"] not in OPERATOR_KINDS for doc in objects(rendered))


def test_checkov_passes_on_the_rendered_manifests(rendered: Path) -> None:
    result = run(
        tool("checkov"),
        "--config-file",
        "deploy/tools/checkov.yaml",
        "--framework",
        "kubernetes",
        "-f",
        str(rendered),
    )
    assert result.returncode == 0, result.stdout[-4000:]


def test_every_workload_runs_the_image_its_overlay_names(
    rendered: Path, request: pytest.FixtureRequest
) -> None:
    """An overlay's `images:` is where a deployment names its registry and tag."""
    overlay = request.node.callspec.params["rendered"]
    kustomization = ROOT / "deploy" / "k8s" / "overlays" / overlay / "kustomization.yaml"
    [image] = yaml.safe_load(kustomization.read_text())["images"]
    # A release may pin a digest (`kustomize edit set image`), which kustomize puts in the tag's
    # place.
    named = image["newName"] + (
        f"@{image['digest']}" if "digest" in image else f":{image['newTag']}"
    )
    used = {
        container["image"]
        for doc in objects(rendered)
        if doc["kind"] in {"Deployment", "Job"}
        for container in _pod(doc)["containers"]
    }
    assert used == {named}


def test_manifests_reference_secrets_but_hold_none(rendered: Path) -> None:
    docs = objects(rendered)
    assert "Secret" not in {doc["kind"] for doc in docs}
    referenced = {
        env["valueFrom"]["secretKeyRef"]["name"]
        for doc in docs
        if doc["kind"] in {"Deployment", "Job"}
        for container in _pod(doc)["containers"]
        for env in container.get("env", [])
        if "valueFrom" in env
    }
    assert referenced == {"flare-postgres-app", "flare-jwt", "flare-smtp", "flare-kafka-client"}


def test_every_workload_reaching_kafka_gets_its_login_and_ca(rendered: Path) -> None:
    """A secured cluster's password and CA (the optional Secret flare-kafka-client) reach every
    client of Kafka: the three services and the Job that creates the topics."""
    for doc in objects(rendered):
        if doc["kind"] not in {"Deployment", "Job"}:
            continue
        pod = _pod(doc)
        [container] = pod["containers"]
        password = {e["name"]: e for e in container["env"]}["FLARE_KAFKA_SASL_PASSWORD"]
        assert password["valueFrom"]["secretKeyRef"]["name"] == "flare-kafka-client"
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        assert volumes["kafka-ca"]["secret"]["secretName"] == "flare-kafka-client"
        mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
        assert mounts["kafka-ca"] == "/etc/flare/kafka", doc["metadata"]["name"]


def test_only_the_services_that_verify_tokens_hold_the_token_secret(rendered: Path) -> None:
    """intake verifies no responder token: a compromised partner-facing pod cannot mint one."""
    holding = {
        doc["metadata"]["name"]
        for doc in objects(rendered)
        if doc["kind"] in {"Deployment", "Job"}
        for container in _pod(doc)["containers"]
        for env in container.get("env", [])
        if env.get("valueFrom", {}).get("secretKeyRef", {}).get("name") == "flare-jwt"
    }
    assert holding == {"flare-router", "flare-notifier"}
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    given = {
        name
        for name, service in compose.items()
        if "FLARE_JWT_SECRET" in service.get("environment", {})
    }
    assert given == {"router", "notifier"}


def test_every_pod_runs_non_root_read_only_without_capabilities(rendered: Path) -> None:
    for doc in objects(rendered):
        if doc["kind"] not in {"Deployment", "Job"}:
            continue
        pod = _pod(doc)
        assert pod["securityContext"]["runAsNonRoot"] is True, doc["metadata"]["name"]
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"]["drop"] == ["ALL"]
            assert container["resources"]["limits"], doc["metadata"]["name"]


def test_only_intake_is_open_to_any_source(rendered: Path) -> None:
    policies = [doc for doc in objects(rendered) if doc["kind"] == "NetworkPolicy"]
    deny_all = [p for p in policies if p["spec"]["podSelector"] == {}]
    assert deny_all, "a default-deny ingress policy selects every pod"
    open_to_all = [
        p["spec"]["podSelector"]
        for p in policies
        for rule in p["spec"].get("ingress", [])
        if "from" not in rule
    ]
    assert open_to_all == [{"matchLabels": {"app.kubernetes.io/name": "flare-intake"}}]


def test_probes_use_healthz_for_liveness_and_readyz_for_readiness(rendered: Path) -> None:
    for doc in objects(rendered):
        if doc["kind"] == "Deployment":
            container = _pod(doc)["containers"][0]
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_dockerfile_passes_hadolint_and_checkov() -> None:
    hadolint = run(tool("hadolint"), "Dockerfile")
    assert hadolint.returncode == 0, hadolint.stdout
    checkov = run(
        tool("checkov"),
        "--config-file",
        "deploy/tools/checkov.yaml",
        "--framework",
        "dockerfile",
        "-f",
        "Dockerfile",
    )
    assert checkov.returncode == 0, checkov.stdout[-4000:]


def test_compose_file_follows_the_compose_specification() -> None:
    result = run(
        tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", "docker-compose.yml"
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_the_three_services_on_the_make_run_ports() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    ports = {name: compose["services"][name]["ports"] for name in ("intake", "router", "notifier")}
    assert ports == {
        "intake": ["127.0.0.1:8001:8000"],
        "router": ["127.0.0.1:8002:8000"],
        "notifier": ["127.0.0.1:8003:8000"],
    }


def _pod(doc: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = doc["spec"]["template"]["spec"]
    return spec


def exported_metrics() -> set[str]:
    files = [*ROOT.glob("shared/**/*.py"), *ROOT.glob("services/**/*.py")]
    return set(re.findall(r'"(flare_[a-z_]+)"', "\n".join(path.read_text() for path in files)))


def metrics_in(expression: str) -> set[str]:
    return {
        re.sub(r"_(bucket|sum|count)$", "", name)
        for name in re.findall(r"\bflare_[a-z_]+", expression)
    }


def test_dashboard_queries_only_metrics_the_services_export() -> None:
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "flare-overview.json").read_text())
    queried = set().union(
        *(
            metrics_in(target["expr"])
            for panel in dashboard["panels"]
            for target in panel["targets"]
        )
    )
    assert queried <= exported_metrics(), f"unknown metrics: {queried - exported_metrics()}"


# Every replica measures the same thing: the shared outbox table, every partition's lag (each
# notifier replica reads every partition for its streams). Summed, N replicas read N times.
SHARED_GAUGES = r"flare_outbox_backlog|flare_outbox_oldest_seconds|flare_consumer_lag"


def test_gauges_every_replica_measures_alike_are_never_summed_across_replicas() -> None:
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "flare-overview.json").read_text())
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "flare-alerts.yaml").read_text())
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    expressions += [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    for expression in expressions:
        uses = re.findall(rf"\b({SHARED_GAUGES})\b", expression)
        taken = re.findall(rf"\b(?:max by \([^)]*\) |absent)\(({SHARED_GAUGES})\b", expression)
        assert uses == taken, f"take the max over replicas: {expression}"


def test_alerts_use_exported_metrics_and_have_a_runbook_entry() -> None:
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "flare-alerts.yaml").read_text())
    runbook = (ROOT / "docs" / "operations.md").read_text()
    for rule in (rule for group in rules["groups"] for rule in group["rules"]):
        assert metrics_in(rule["expr"]) <= exported_metrics(), rule["alert"]
        assert f"### {rule['alert']}" in runbook, (
            f"docs/operations.md does not explain {rule['alert']}"
        )
        assert rule["annotations"]["runbook"] == f"docs/operations.md#{rule['alert'].lower()}"
        # absent() names what is missing only when given a bare selector, not an expression.
        for argument in re.findall(r"absent\((.*?)\)\s*(?:or|$)", rule["expr"], re.MULTILINE):
            assert re.fullmatch(r"\w+\{[^{}]*\}", argument), (rule["alert"], argument)


def test_the_deployed_default_policy_is_the_one_the_repository_tests() -> None:
    deployed = ROOT / "deploy" / "k8s" / "base" / "policy.yaml"
    assert deployed.read_text() == (ROOT / "policy" / "default.yaml").read_text(), (
        "copy policy/default.yaml to deploy/k8s/base/policy.yaml"
    )


def test_the_router_reads_the_policy_from_its_config_map(rendered: Path) -> None:
    router = next(
        doc
        for doc in objects(rendered)
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] == "flare-router"
    )
    pod = _pod(router)
    env = {item["name"]: item.get("value") for item in pod["containers"][0]["env"]}
    assert env["FLARE_POLICY_PATH"] == "/etc/flare/policy/policy.yaml"
    assert {"name": "policy", "configMap": {"name": "flare-policy"}} in pod["volumes"]


def test_the_console_calls_the_api_on_its_own_origin_behind_the_ingress(rendered: Path) -> None:
    settings = next(
        doc
        for doc in objects(rendered)
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"].startswith("flare-settings")
    )["data"]
    assert settings["FLARE_CONSOLE_ROUTER_URL"] == ""
    assert settings["FLARE_CORS_ALLOWED_ORIGINS"] == "[]"


def test_an_in_cluster_postgres_admits_the_flare_pods_past_the_default_deny(
    rendered: Path,
) -> None:
    """components/infra's PostgreSQL is in the namespace the default-deny policy covers."""
    docs = objects(rendered)
    clusters = [doc["metadata"]["name"] for doc in docs if doc["kind"] == "Cluster"]
    for cluster in clusters:
        sources = admitted_sources(docs, {"cnpg.io/cluster": cluster}, 5432)
        assert {"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "flare"}}} in sources


def test_cert_managers_http01_solver_is_reachable_past_the_default_deny(rendered: Path) -> None:
    """cert-manager starts the solver pod in the Ingress's namespace; Let's Encrypt reaches it
    through the ingress controller, or the certificate is never issued."""
    docs = objects(rendered)
    [ingress] = [doc for doc in docs if doc["kind"] == "Ingress"]
    assert "cert-manager.io/cluster-issuer" in ingress["metadata"]["annotations"]
    sources = admitted_sources(docs, {"acme.cert-manager.io/http01-solver": "true"}, 8089)
    controller = {"kubernetes.io/metadata.name": "ingress-nginx"}
    assert {"namespaceSelector": {"matchLabels": controller}} in sources


def admitted_sources(
    docs: list[dict[str, Any]], pod_labels: dict[str, str], port: int
) -> list[dict[str, Any]]:
    """The sources the NetworkPolicies selecting exactly `pod_labels` admit on TCP `port`."""
    return [
        source
        for doc in docs
        if doc["kind"] == "NetworkPolicy"
        and doc["spec"]["podSelector"] == {"matchLabels": pod_labels}
        for rule in doc["spec"].get("ingress", [])
        if {"port": port, "protocol": "TCP"} in rule["ports"]
        for source in rule["from"]
    ]


def test_an_unready_pod_never_blocks_a_node_drain(rendered: Path) -> None:
    """A pod unready for long (a router in a Kafka outage, a pod waiting for its migrations):
    a budget counting it would hold every node drain until it is ready. A single PostgreSQL
    instance has no budget: one would forbid ever evicting it."""
    docs = objects(rendered)
    budgets = [doc["spec"] for doc in docs if doc["kind"] == "PodDisruptionBudget"]
    assert len(budgets) == 3
    assert {budget.get("unhealthyPodEvictionPolicy") for budget in budgets} == {"AlwaysAllow"}
    for cluster in (doc["spec"] for doc in docs if doc["kind"] == "Cluster"):
        assert cluster["instances"] > 1 or cluster.get("enablePDB") is False, cluster


def test_the_notifier_takes_its_smtp_login_from_one_secret(rendered: Path) -> None:
    """aiosmtplib logs in only when given a username: a password alone is never used."""
    notifier = next(
        doc
        for doc in objects(rendered)
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] == "flare-notifier"
    )
    env = {item["name"]: item for item in _pod(notifier)["containers"][0]["env"]}
    login = [
        env[name]["valueFrom"]["secretKeyRef"]
        for name in ("FLARE_SMTP_USERNAME", "FLARE_SMTP_PASSWORD")
    ]
    assert [(ref["name"], ref["key"]) for ref in login] == [
        ("flare-smtp", "username"),
        ("flare-smtp", "password"),
    ]


def routed_to(ingress: dict[str, Any], host_prefix: str, path: str) -> str | None:
    """The service an Ingress sends `path` to on the host named `host_prefix...`: an Exact
    path first, else the longest matching Prefix (element-wise), as ingress-nginx does."""
    [rule] = [r for r in ingress["spec"]["rules"] if r["host"].startswith(host_prefix)]
    matches = [
        (entry["pathType"] == "Exact", len(entry["path"]), entry["backend"]["service"]["name"])
        for entry in rule["http"]["paths"]
        if path == entry["path"]
        or (entry["pathType"] == "Prefix" and path.startswith(entry["path"].rstrip("/") + "/"))
    ]
    return max(matches)[2] if matches else None


def test_the_ingress_routes_the_api_and_the_console_but_no_metrics_or_probes(
    rendered: Path,
) -> None:
    [ingress] = [doc for doc in objects(rendered) if doc["kind"] == "Ingress"]
    for host in ("intake.", "console."):
        for internal in ("/metrics", "/healthz", "/readyz"):
            assert routed_to(ingress, host, internal) is None, (host, internal)
    expected = {
        ("intake.", "/v1/escalations"): "flare-intake",
        ("intake.", "/v1/integrations/alertmanager"): "flare-intake",
        ("intake.", "/v2/enqueue"): "flare-intake",
        ("intake.", "/docs"): "flare-intake",
        ("console.", "/"): "flare-notifier",
        ("console.", "/cases/0b0e"): "flare-notifier",
        ("console.", "/v1/stream"): "flare-notifier",
        ("console.", "/v1/cases/0b0e/acknowledge"): "flare-router",
        ("console.", "/v1/teams"): "flare-router",
    }
    assert {key: routed_to(ingress, *key) for key in expected} == expected


def test_autoscaled_deployments_leave_their_replica_count_to_the_autoscaler(
    rendered: Path,
) -> None:
    """A count in the Deployment would scale it back to that at every `kubectl apply`."""
    docs = objects(rendered)
    scaled = {
        doc["spec"]["scaleTargetRef"]["name"]
        for doc in docs
        if doc["kind"] == "HorizontalPodAutoscaler"
    }
    deployments = {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == "Deployment"}
    assert scaled == set(deployments)
    assert [name for name, doc in deployments.items() if "replicas" in doc["spec"]] == []


def test_pods_get_the_time_their_graceful_stop_may_take(rendered: Path) -> None:
    """The drain, then the requests in flight, then the workers, each to its timeout."""
    docs = objects(rendered)
    settings = next(
        doc
        for doc in docs
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"].startswith("flare-settings")
    )["data"]
    stop_s = float(settings["FLARE_SHUTDOWN_DRAIN_S"]) + 2 * float(
        settings["FLARE_SHUTDOWN_TIMEOUT_S"]
    )
    for doc in docs:
        if doc["kind"] == "Deployment":
            assert _pod(doc)["terminationGracePeriodSeconds"] > stop_s, doc["metadata"]["name"]


def test_an_in_cluster_postgres_allows_every_connection_the_autoscaled_services_may_open() -> None:
    """Each replica: a pool, as many again under load (shared.db), and one LISTEN; at the
    base's autoscaler maximums (prod's too), with a rollout's surge pod per service, against
    components/infra's PostgreSQL less its superusers' reserved connections."""
    k8s = ROOT / "deploy" / "k8s"
    autoscalers = [
        doc for doc in yaml.safe_load_all((k8s / "base" / "autoscalers.yaml").read_text()) if doc
    ]
    replicas = sum(doc["spec"]["maxReplicas"] + 1 for doc in autoscalers)
    per_replica = 2 * FlareSettings.model_fields["db_pool_size"].default + 1
    cluster = yaml.safe_load((k8s / "components" / "infra" / "postgres.yaml").read_text())
    allowed = int(cluster["spec"]["postgresql"]["parameters"]["max_connections"]) - 3
    assert allowed >= replicas * per_replica


SETTINGS = {"intake": IntakeSettings, "router": RouterSettings, "notifier": NotifierSettings}


def test_every_container_s_settings_validate_and_servers_hold_their_own_secret(
    rendered: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each container's environment (the ConfigMap, its own values, each secret as a stand-in)
    as its settings read it: the migrate Job, which runs every service's migrations, included.
    A Deployment that verifies tokens serves, so it must not fall back on the public default
    token secret."""
    docs = objects(rendered)
    config = next(
        doc["data"]
        for doc in docs
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"].startswith("flare-settings")
    )
    for doc in docs:
        if doc["kind"] not in {"Deployment", "Job"}:
            continue
        container = _pod(doc)["containers"][0]
        env = dict(config)
        for item in container.get("env", []):
            secret = item.get("valueFrom", {}).get("secretKeyRef")
            if secret is None:
                env[item["name"]] = item["value"]
            elif not secret.get("optional"):
                env[item["name"]] = (
                    "postgresql://u:p@db/flare" if "DATABASE" in item["name"] else "s" * 40
                )
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        services = [env["FLARE_SERVICE"]] if "FLARE_SERVICE" in env else list(SETTINGS)
        for service in services:
            settings = SETTINGS[service]()
            if doc["kind"] == "Deployment" and isinstance(settings, ResponderAuthSettings):
                settings.refuse_public_secret()
        for name in env:
            monkeypatch.delenv(name)
