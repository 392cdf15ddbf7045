"""The Kubernetes manifests (deploy/k8s) and the systemd units (deploy/systemd) hold together.

No cluster and no systemd-run machine is needed: the manifests are checked against Kubernetes'
own schemas (kubernetes-validate, strict), and everything an operator would otherwise find out
only once it is deployed is checked against the app itself: the probes ask for paths the app
serves with a Host it answers, every variable set is a setting the app reads and the ConfigMap
starts it in prod, grace periods outlast the app's shutdown timeouts, every command is a `myapp`
command, selectors select the pods they mean, and the kustomization applies every manifest.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from my_app import metrics_export
from my_app.config import ConfigError, Settings
from my_app.database import resolve
from my_app_web.channels.connection import HEARTBEAT_TIMEOUT
from my_app_web.live.stream import HEARTBEAT_SECONDS
from my_app_web.plugs.trusted_host import TrustedHosts
from tests.support.processes import MYAPP, PROJECT_ROOT, myapp, output_lines
from tests.support.services import require_service

K8S = PROJECT_ROOT / "deploy" / "k8s"
SYSTEMD = PROJECT_ROOT / "deploy" / "systemd"
KUSTOMIZATION = K8S / "kustomization.yaml"
# An example of the Secret's keys with placeholder values: never applied, so never listed.
SECRET_EXAMPLE = K8S / "secret.example.yaml"
KUBERNETES_VALIDATE = Path(sys.executable).parent / "kubernetes-validate"
# The oldest Kubernetes the manifests are meant for (managed providers still run it), and the newest
# kubernetes-validate knows (its default).
KUBERNETES_VERSIONS = ["1.29.0", None]
# Where the units expect the release's venv (docs/deployment.md).
UNIT_MYAPP = "/opt/my-app/venv/bin/myapp"
ENV_FILE = "/etc/my-app/env"
NAME_LABEL = {"app.kubernetes.io/name": "my-app"}
# What each probe of the web pods asks for: liveness never depends on PostgreSQL, readiness does.
PROBE_PATHS = {"startupProbe": "/health", "livenessProbe": "/health", "readinessProbe": "/ready"}


# --- Reading the manifests ---


def manifest_files() -> list[Path]:
    """Every Kubernetes manifest of deploy/k8s (the kustomization itself is kustomize's, not Kubernetes')."""
    return sorted(path for path in K8S.glob("*.yaml") if path != KUSTOMIZATION)


def load_documents(path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def applied_resources() -> list[dict[str, Any]]:
    """What `kubectl apply -k deploy/k8s` applies: the kustomization's resources, in its order."""
    kustomization = load_documents(KUSTOMIZATION)[0]
    return [document for name in kustomization["resources"] for document in load_documents(K8S / name)]


def resource(kind: str, name: str) -> dict[str, Any]:
    found = [item for item in applied_resources() if item["kind"] == kind and item["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name} in deploy/k8s, found {len(found)}"
    return found[0]


def workloads() -> list[dict[str, Any]]:
    """The Deployments and Jobs: whatever runs pods."""
    return [item for item in applied_resources() if item["kind"] in {"Deployment", "Job"}]


def containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    pod = workload["spec"]["template"]["spec"]
    return [*pod.get("initContainers", []), *pod["containers"]]


def config_data() -> dict[str, str]:
    return dict(resource("ConfigMap", "my-app-config")["data"])


def secret_example() -> dict[str, Any]:
    (secret,) = load_documents(SECRET_EXAMPLE)
    return secret


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


# --- Reading the units ---


def unit_entries(path: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) for each line of a unit file, in order (keys may repeat, as After= does)."""
    entries, section = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        entries.append((section, key.strip(), value.strip()))
    return entries


def unit_values(path: Path, key: str) -> list[str]:
    """Every value of `key`, space-separated lists split (After=a b and After=c give a, b, c)."""
    return [item for _, name, value in unit_entries(path) if name == key for item in value.split()]


def unit_lines(path: Path, key: str) -> list[str]:
    """Every value of `key`, as written."""
    return [value for _, name, value in unit_entries(path) if name == key]


def unit_value(path: Path, key: str) -> str:
    values = unit_lines(path, key)
    assert len(values) == 1, f"{path.name}: expected one {key}=, found {values}"
    return values[0]


def unit_seconds(path: Path, key: str) -> int:
    """A time setting written in seconds (`45` or `45s`)."""
    value = unit_value(path, key)
    matched = re.fullmatch(r"(\d+)s?", value)
    assert matched is not None, f"{path.name}: {key}={value} is not in seconds"
    return int(matched[1])


def unit_files() -> list[Path]:
    return sorted(SYSTEMD.glob("*.service"))


# --- The commands they run ---


def commands() -> Iterator[tuple[str, tuple[str, ...]]]:
    """(where, myapp arguments) for every container and unit that runs the app."""
    for workload in workloads():
        for container in containers(workload):
            where = f"{workload['kind']} {workload['metadata']['name']}"
            program, *arguments = container["command"] + container.get("args", [])
            assert program == "myapp", f"{where} runs {program!r}, not the release's `myapp`"
            yield where, tuple(arguments)
    for unit in unit_files():
        for line in unit_lines(unit, "ExecStart"):
            program, *arguments = shlex.split(line)
            assert program == UNIT_MYAPP, f"{unit.name} runs {program!r}, not {UNIT_MYAPP}"
            yield unit.name, tuple(arguments)


def settings_variables() -> set[str]:
    """The environment variables Settings reads (names are case-insensitive; upper case here)."""
    names: set[str] = set()
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias
        choices = getattr(alias, "choices", None)
        if choices:
            names.update(str(choice).upper() for choice in choices)
        else:
            names.add(str(alias or field_name).upper())
    return names


def prod_settings(monkeypatch: pytest.MonkeyPatch, secret: dict[str, str]) -> Settings:
    """The settings a pod gets from the ConfigMap and `secret` (envFrom), and nothing else."""
    variables = {**config_data(), **secret}
    for name in settings_variables() - variables.keys():
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)  # a .env in the checkout is not the pod's


# --- Schemas ---


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS, ids=lambda version: version or "newest")
def test_every_manifest_is_valid_for_kubernetes(version: str | None) -> None:
    require_service(
        "kubernetes-validate", KUBERNETES_VALIDATE.exists(), "install the dev dependencies (uv sync, make install)"
    )
    version_option = ["--kubernetes-version", version] if version else []
    # --quiet prints only failures and warnings (a kind it has no schema for): either is a finding.
    assert_silent([str(KUBERNETES_VALIDATE), "--strict", "--quiet", *version_option, *map(str, manifest_files())])


def assert_silent(command: list[str]) -> None:
    """`command` exits 0 and prints nothing: for these validators, any line is a finding."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert output_lines(result.stdout + result.stderr) == []


def test_the_kustomization_applies_every_manifest_but_the_secret_example() -> None:
    kustomization = load_documents(KUSTOMIZATION)[0]
    listed = kustomization["resources"]
    assert len(listed) == len(set(listed)), f"listed twice: {listed}"
    assert set(listed) == {path.name for path in manifest_files()} - {SECRET_EXAMPLE.name}
    # Applying the example would put placeholder credentials on the cluster.
    assert SECRET_EXAMPLE.name not in listed


def test_the_kustomization_image_is_the_one_every_container_runs() -> None:
    # `images:` (or `kustomize edit set image my-app=...`) replaces an image only where its name matches.
    (image,) = load_documents(KUSTOMIZATION)[0]["images"]
    for workload in workloads():
        for container in containers(workload):
            assert container["image"].rsplit(":", 1)[0] == image["name"], workload["metadata"]["name"]


# --- Settings ---


def test_every_variable_of_the_config_map_and_the_secret_is_a_setting() -> None:
    known = settings_variables()
    set_here = {*config_data(), *secret_example()["stringData"]}
    assert set_here - known == set(), "not read by the app (see src/my_app/config.py)"


def test_the_config_map_starts_the_app_in_prod_with_its_jobs_in_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = {**secret_example()["stringData"], "SECRET_KEY_BASE": "k" * 64}
    settings = prod_settings(monkeypatch, secret)

    assert settings.env == "prod"
    assert settings.jobs_in_server is False
    assert settings.log_format == "json"
    assert settings.web_concurrency == 1
    assert settings.trusted_proxy_list, "TRUSTED_PROXIES: the ingress controller's addresses"
    # The example's DATABASE_URL is a URL libpq reads, and the connection checks the server's certificate.
    assert "sslmode=verify-full" in resolve(settings).url


def test_the_secret_example_cannot_start_the_app_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY_BASE must be at least 64 bytes"):
        prod_settings(monkeypatch, secret_example()["stringData"])


def test_the_ingress_host_is_app_host() -> None:
    ingress = resource("Ingress", "my-app")
    hosts = {rule["host"] for rule in ingress["spec"]["rules"]}
    assert hosts == {config_data()["APP_HOST"]}
    assert {host for tls in ingress["spec"]["tls"] for host in tls["hosts"]} == hosts


# --- Pods ---


def test_web_probes_ask_for_health_and_ready_with_a_host_the_app_answers() -> None:
    (web,) = containers(resource("Deployment", "my-app-web"))
    trusted_hosts = TrustedHosts([host.strip() for host in config_data()["TRUSTED_HOSTS"].split(",")])
    port_names = {port["name"] for port in web["ports"]}

    for probe_name, path in PROBE_PATHS.items():
        probe = web[probe_name]["httpGet"]
        assert probe["path"] == path, probe_name
        assert probe["port"] in port_names, f"{probe_name}: port {probe['port']!r} is not a named container port"
        hosts = [header["value"] for header in probe.get("httpHeaders", []) if header["name"].lower() == "host"]
        assert hosts, f"{probe_name} sends the pod's IP as Host: the app answers it 400"
        assert trusted_hosts.allows_host(hosts[0].encode()), f"{probe_name}: Host {hosts[0]} not in TRUSTED_HOSTS"


def test_every_http_probe_of_every_pod_asks_for_a_health_path_on_a_named_port() -> None:
    for workload in workloads():
        for container in containers(workload):
            port_names = {port["name"] for port in container.get("ports", [])}
            for probe_name in ("startupProbe", "livenessProbe", "readinessProbe"):
                probe = container.get(probe_name, {}).get("httpGet")
                if probe is not None:
                    assert probe["path"] in {"/health", "/ready"}, f"{workload['metadata']['name']} {probe_name}"
                    assert probe["port"] in port_names, f"{workload['metadata']['name']} {probe_name}"


def test_the_web_port_is_the_port_the_server_listens_on() -> None:
    (web,) = containers(resource("Deployment", "my-app-web"))
    http = next(port for port in web["ports"] if port["name"] == "http")
    listens_on = int(config_data().get("PORT", Settings.model_fields["port"].default))
    assert http["containerPort"] == listens_on


def test_web_pods_get_longer_to_stop_than_the_server_takes_to_drain() -> None:
    web = resource("Deployment", "my-app-web")
    (container,) = containers(web)
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep", "preStop keeps serving while the pod leaves the endpoints"
    shutdown_timeout = int(config_data().get("SHUTDOWN_TIMEOUT", Settings.model_fields["shutdown_timeout"].default))
    grace = web["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    # Kubernetes counts the preStop hook inside the grace period, then SIGKILLs whatever still runs.
    assert grace > shutdown_timeout + int(pre_stop[1])


def test_worker_pods_get_longer_to_stop_than_running_jobs_get_to_finish() -> None:
    worker = resource("Deployment", "my-app-worker")
    job_shutdown_timeout = float(
        config_data().get("JOB_SHUTDOWN_TIMEOUT", Settings.model_fields["job_shutdown_timeout"].default)
    )
    assert worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > job_shutdown_timeout


def test_web_rollouts_never_go_below_the_replicas_and_disruptions_leave_one() -> None:
    web = resource("Deployment", "my-app-web")
    assert web["spec"]["replicas"] >= 2
    assert web["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    budget = resource("PodDisruptionBudget", "my-app-web")["spec"]
    assert 1 <= budget["minAvailable"] < web["spec"]["replicas"], "a budget of every replica blocks node drains"


def test_every_pod_reads_the_config_map_and_the_secret() -> None:
    secret_name = secret_example()["metadata"]["name"]
    for workload in workloads():
        for container in containers(workload):
            sources = container["envFrom"]
            assert {"configMapRef": {"name": "my-app-config"}} in sources, workload["metadata"]["name"]
            assert {"secretRef": {"name": secret_name}} in sources, workload["metadata"]["name"]


def test_pods_run_as_the_image_user_with_a_read_only_root_and_a_writable_tmp() -> None:
    for workload in workloads():
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001  # the image's user `app`
        tmp_volumes = {volume["name"] for volume in pod.get("volumes", []) if "emptyDir" in volume}
        for container in containers(workload):
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            # prometheus-client's multiprocess directory and Python's tempfile write there.
            mounts = {mount["mountPath"]: mount["name"] for mount in container.get("volumeMounts", [])}
            assert mounts.get("/tmp") in tmp_volumes, workload["metadata"]["name"]  # noqa: S108  # a mount, not a file
            assert "memory" in container["resources"]["requests"], workload["metadata"]["name"]


# --- Labels and selectors ---


def test_every_resource_carries_the_app_label() -> None:
    for item in [*applied_resources(), secret_example()]:
        assert selects(NAME_LABEL, item["metadata"]["labels"]), f"{item['kind']} {item['metadata']['name']}"


def test_each_workload_selects_its_own_pods_and_no_other() -> None:
    pod_labels = {
        item["metadata"]["name"]: item["spec"]["template"]["metadata"]["labels"]
        for item in applied_resources()
        if item["kind"] in {"Deployment", "Job"}
    }
    for deployment in (item for item in applied_resources() if item["kind"] == "Deployment"):
        name = deployment["metadata"]["name"]
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert [other for other, labels in pod_labels.items() if selects(selector, labels)] == [name]


def test_the_service_and_the_budget_select_the_web_pods_only() -> None:
    web_labels = resource("Deployment", "my-app-web")["spec"]["template"]["metadata"]["labels"]
    others = [
        item["spec"]["template"]["metadata"]["labels"]
        for item in workloads()
        if item["metadata"]["name"] != "my-app-web"
    ]
    service = resource("Service", "my-app-web")["spec"]
    budget = resource("PodDisruptionBudget", "my-app-web")["spec"]["selector"]["matchLabels"]
    for selector in (service["selector"], budget):
        assert selects(selector, web_labels)
        assert not any(selects(selector, labels) for labels in others)


def test_the_ingress_reaches_the_web_port_through_the_service() -> None:
    service = resource("Service", "my-app-web")["spec"]
    (web,) = containers(resource("Deployment", "my-app-web"))
    for port in service["ports"]:
        assert port["targetPort"] in {container_port["name"] for container_port in web["ports"]}
    backends = [
        path["backend"]["service"]
        for rule in resource("Ingress", "my-app")["spec"]["rules"]
        for path in rule["http"]["paths"]
    ]
    for backend in backends:
        assert backend["name"] == "my-app-web"
        assert backend["port"]["name"] in {port["name"] for port in service["ports"]}


def test_the_ingress_holds_sockets_and_live_pages_and_passes_events_through() -> None:
    annotations = resource("Ingress", "my-app")["metadata"]["annotations"]
    prefix = "nginx.ingress.kubernetes.io/"
    # ingress-nginx's default of 60 s would cut a quiet socket or live page the app keeps alive.
    for timeout in ("proxy-read-timeout", "proxy-send-timeout"):
        assert int(annotations[prefix + timeout]) > max(HEARTBEAT_TIMEOUT, HEARTBEAT_SECONDS), timeout
    assert annotations[prefix + "proxy-buffering"] == "off", "buffered SSE events reach the browser late"


# --- The commands ---


def distinct_commands() -> dict[tuple[str, ...], list[str]]:
    found: dict[tuple[str, ...], list[str]] = {}
    for where, arguments in commands():
        found.setdefault(arguments, []).append(where)
    return found


@pytest.mark.parametrize(
    ("arguments", "used_by"),
    [pytest.param(arguments, used_by, id=" ".join(arguments)) for arguments, used_by in distinct_commands().items()],
)
def test_every_command_run_is_a_myapp_command(arguments: tuple[str, ...], used_by: list[str]) -> None:
    result = myapp(*arguments, "--help")
    assert result.returncode == 0, f"`myapp {' '.join(arguments)}` (run by {', '.join(used_by)}): {result.stderr}"


def test_the_manifests_and_the_units_run_the_same_three_commands() -> None:
    expected = {("server",), ("worker",), ("db", "migrate")}
    assert set(distinct_commands()) == expected


# --- The systemd units ---


def test_web_and_worker_start_after_the_migrations_succeed() -> None:
    migrate = SYSTEMD / "my-app-migrate.service"
    assert unit_value(migrate, "Type") == "oneshot"
    for name in ("my-app-web.service", "my-app-worker.service"):
        unit = SYSTEMD / name
        assert "my-app-migrate.service" in unit_values(unit, "Requires"), name
        assert "my-app-migrate.service" in unit_values(unit, "After"), name


def test_every_unit_runs_as_my_app_with_the_env_file() -> None:
    assert {unit.name for unit in unit_files()} == {
        "my-app-web.service",
        "my-app-worker.service",
        "my-app-migrate.service",
    }
    for unit in unit_files():
        assert unit_value(unit, "User") == "my-app", unit.name
        assert unit_value(unit, "EnvironmentFile") == ENV_FILE, unit.name
        assert unit_value(unit, "NoNewPrivileges") == "yes", unit.name
        assert unit_value(unit, "ProtectSystem") == "strict", unit.name


@pytest.mark.parametrize(
    ("name", "timeout_setting"),
    [("my-app-web.service", "shutdown_timeout"), ("my-app-worker.service", "job_shutdown_timeout")],
)
def test_units_wait_longer_than_the_app_takes_to_stop(name: str, timeout_setting: str) -> None:
    unit = SYSTEMD / name
    assert unit_value(unit, "KillSignal") == "SIGTERM"
    assert unit_value(unit, "Restart") == "on-failure"
    assert unit_seconds(unit, "TimeoutStopSec") > Settings.model_fields[timeout_setting].default


def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    systemd_analyze = shutil.which("systemd-analyze")
    if systemd_analyze is None:
        # Not a tool the project installs: a container-based CI machine often has no systemd at all.
        pytest.skip("systemd-analyze is not installed (not every CI machine has systemd): units not verified")
    # verify also checks that ExecStart's program exists; here the release's venv is this one.
    for unit in unit_files():
        (tmp_path / unit.name).write_text(unit.read_text().replace(UNIT_MYAPP, str(MYAPP)))
    # An unknown key or a bad value is only a warning (exit status 0): any output is a finding.
    assert_silent([systemd_analyze, "verify", *sorted(map(str, tmp_path.glob("*.service")))])


def test_the_worker_is_probed_on_the_metrics_port_it_serves() -> None:
    """`myapp worker` serves no HTTP but METRICS_PORT, whose /health says whether its loop turns."""
    [worker] = containers(resource("Deployment", "my-app-worker"))
    env = {item["name"]: item["value"] for item in worker.get("env", [])}
    probe = worker["livenessProbe"]["httpGet"]
    ports = {port["name"]: port["containerPort"] for port in worker["ports"]}

    assert probe["path"] == "/health"
    assert ports[probe["port"]] == int(env["METRICS_PORT"])
    assert worker["livenessProbe"]["timeoutSeconds"] > metrics_export.HEALTH_TIMEOUT
    assert "readinessProbe" not in worker, "no traffic goes to a worker"
