"""deploy/helm/callflows: the chart rendered and linted by Helm's own engine, every manifest validated
against the Kubernetes OpenAPI schemas, and the rendered pods checked against the server they run.

Why these tools: no helm or kubeconform binary installs from the registries this project reaches, so
the chart is rendered by `helm-python-sdk` (PyPI: Helm v4's Go SDK built into a shared library, the
same template engine and lint rules as the helm CLI) and each rendered object is validated by
`kubernetes-validate` (PyPI: the Kubernetes OpenAPI schemas as JSON schemas; strict: unknown fields
fail too). Both come from scripts/install.sh's optional `chart` stage; without them this file skips.
deploy/k8s's plain manifests get the same schema check.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

helm = pytest.importorskip("helm_python", reason="helm-python-sdk not installed (scripts/install.sh chart)")
kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="kubernetes-validate not installed (scripts/install.sh chart)")

from callflows.cli.main import cli  # noqa: E402
from callflows.cli.serve import GRACEFUL_MARGIN_S  # noqa: E402
from callflows.config import Settings  # noqa: E402
from callflows.models import Manifest  # noqa: E402
from callflows.server import create_app  # noqa: E402
from callflows.telephony.drain import WRAP_UP_S  # noqa: E402
from tests.test_deploy import _code_literals, _families, _parse_without_running, _read_by_code  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "deploy" / "helm" / "callflows"
K8S = ROOT / "deploy" / "k8s"
# The oldest Kubernetes the chart accepts (Chart.yaml kubeVersion) and the newest schemas shipped.
KUBE_VERSIONS = ("1.25", kubernetes_validate.latest_version())

REQUIRED: dict[str, Any] = {
    "publicUrl": "https://calls.example.com",
    "database": {"url": "postgresql+psycopg://callflows:pw@db.example.internal:5432/callflows"},
    "secrets": {"twilioAuthToken": "test-token"},
}
SHA_A = "a" * 64

# Value sets that switch every optional part on or off at least once.
VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "everything": {
        "database": {"url": "", "existingSecret": "pg-app", "existingSecretKey": "uri"},
        "secrets": {"twilioAuthToken": "", "existingSecret": "callflows-keys"},
        "models": {"source": "fetch", "fetch": {
            "llm_escalation": {"url": "https://models.example.com/q.gguf", "sha256": SHA_A},
            "embedder": {"url": "https://models.example.com/minilm.zip", "sha256": "b" * 64}}},
        "ingress": {"enabled": True, "tlsSecretName": "calls-tls"},
        "autoscaling": {"callsInProgress": {"enabled": True}},
        "recordings": {"persistence": {"enabled": True, "storageClass": "nfs"}},
        "phone": {"extraEnv": [{"name": "CALLFLOWS_TRANSFER_MODE", "value": "warm"}],
                  "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                                 "whenUnsatisfiable": "ScheduleAnyway"}]},
        "imagePullSecrets": [{"name": "registry"}],
        "networkPolicy": {"enabled": True},
    },
    "minimal": {
        "admin": {"enabled": False}, "llm": {"enabled": False, "externalUrl": "http://vllm.gpu:8000"},
        "autoscaling": {"enabled": False}, "phone": {"podDisruptionBudget": {"enabled": False}},
        "sweeper": {"calls": {"enabled": False}}, "networkPolicy": {"enabled": True},
        "models": {"source": "fetch", "volume": {"existingClaim": "models"},
                   "fetch": {"tts": {"url": "https://models.example.com/voice.zip", "sha256": SHA_A}}},
    },
}


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def render(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The chart's objects for these values (on top of the required ones), as `helm template` renders them."""
    with helm.Chart.load(CHART) as chart:
        files = chart.render(_merge(REQUIRED, values or {}), name="cf", namespace="calls", is_install=True)
    return [doc for path, text in sorted(files.items()) if path.endswith(".yaml")
            for doc in yaml.safe_load_all(text) if doc]


def objects(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj["spec"]
    return (spec["jobTemplate"]["spec"] if obj["kind"] == "CronJob" else spec)["template"]["spec"]


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def test_chart_lints_without_warnings() -> None:
    for values in VARIANTS.values():
        report = helm.lint(CHART, _merge(REQUIRED, values))
        assert report["errors"] == [], report
        assert [m for m in report["messages"] if m["severity"] >= 2] == [], report  # 1 = info ("icon is recommended")


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_rendered_object_validates_against_the_kubernetes_schemas(variant: str) -> None:
    docs = render(VARIANTS[variant])
    assert docs
    for doc in docs:
        for version in KUBE_VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)  # raises on any unknown or wrong field


def test_deploy_k8s_manifests_validate_against_the_kubernetes_schemas() -> None:
    docs = [doc for path in sorted(K8S.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc]
    assert len(docs) >= 6
    for doc in docs:
        for version in KUBE_VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)


def test_a_broken_object_fails_the_schema_check() -> None:
    """The check above can fail: a misspelt field in the phone container is refused."""
    deployment = objects(render(), "Deployment")["cf-callflows-phone"]
    pod_spec(deployment)["containers"][0]["readinesProbe"] = {"httpGet": {"path": "/readyz", "port": "http"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBE_VERSIONS[0], strict=True)


@pytest.mark.parametrize("missing,message", [
    ({"publicUrl": ""}, "publicUrl is required"),
    ({"publicUrl": "http://calls.example.com"}, "https://"),
    ({"database": {"url": ""}}, "a database is required"),
    ({"secrets": {"twilioAuthToken": ""}}, "Twilio auth token is required"),
    ({"models": {"source": "fetch"}}, "at least one role"),
    ({"models": {"source": "fetch", "fetch": {"tts": {"url": "https://x/v.zip", "sha256": "abc"}}}}, "sha256"),
])
def test_missing_required_values_stop_the_render_with_the_reason(missing: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmError, match=message):
        render(missing)


def test_the_phone_pod_drains_as_the_server_does(sqlite_store: Any) -> None:
    """Probes on the server's real routes; the drain's grace in the environment and the pod's termination
    grace period derived from the same value, above preStop + grace + the worker's wrap-up and exit."""
    routes = {r.rule for r in create_app(Settings(insecure_dev=True), sqlite_store, services=None).url_map.iter_rules()}
    for grace, pre_stop in ((600, 10), (120, 5)):
        docs = render({"phone": {"drain": {"graceSeconds": grace, "preStopSeconds": pre_stop}}})
        deployment = objects(docs, "Deployment")["cf-callflows-phone"]
        pod = pod_spec(deployment)
        (phone,) = pod["containers"]
        env = env_of(phone)
        assert float(env["CALLFLOWS_DRAIN_GRACE_S"]["value"]) == grace
        assert phone["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", str(pre_stop)]
        assert pod["terminationGracePeriodSeconds"] > pre_stop + grace + WRAP_UP_S + GRACEFUL_MARGIN_S
        assert pod["terminationGracePeriodSeconds"] == pre_stop + grace + 45 + 45  # the margin of values.yaml
        assert phone["readinessProbe"]["httpGet"]["path"] == "/readyz" in routes
        assert phone["livenessProbe"]["httpGet"]["path"] == "/healthz" in routes
        assert phone["startupProbe"]["httpGet"]["path"] == "/healthz"
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/path"] == "/metrics" in routes
        assert annotations["prometheus.io/port"] == str(phone["ports"][0]["containerPort"])
        assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
        assert "replicas" not in deployment["spec"]  # the HPA owns the count


def test_selectors_tie_the_services_pdb_and_hpa_to_their_pods() -> None:
    docs = render(VARIANTS["everything"])
    deployments = objects(docs, "Deployment")
    assert set(deployments) == {"cf-callflows-phone", "cf-callflows-admin", "cf-callflows-llm"}
    for name, service in objects(docs, "Service").items():
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items(), name
        assert deployments[name]["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]
    phone_labels = deployments["cf-callflows-phone"]["spec"]["template"]["metadata"]["labels"]
    (pdb,) = objects(docs, "PodDisruptionBudget").values()
    assert pdb["spec"]["selector"]["matchLabels"] == phone_labels and pdb["spec"]["maxUnavailable"] == 1
    (hpa,) = objects(docs, "HorizontalPodAutoscaler").values()
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "cf-callflows-phone"}
    metrics = {m["type"]: m for m in hpa["spec"]["metrics"]}
    assert metrics["Resource"]["resource"]["name"] == "cpu"
    assert metrics["Pods"]["pods"]["metric"]["name"] == "callflows_calls_in_progress"
    from callflows.telephony import metrics as server_metrics  # the gauge the server exports under that name
    assert "callflows_calls_in_progress" in Path(server_metrics.__file__).read_text()
    assert "Pods" not in {m["type"] for m in objects(render(), "HorizontalPodAutoscaler")["cf-callflows-phone"]["spec"]["metrics"]}
    (ingress,) = objects(docs, "Ingress").values()
    assert ingress["spec"]["rules"][0]["host"] == "calls.example.com"
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "cf-callflows-phone"


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels and In expressions) selects pods with these labels."""
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    return all(e["operator"] == "In" and labels.get(e["key"]) in e["values"] for e in selector.get("matchExpressions", []))


def test_network_policies_let_only_the_phone_and_admin_reach_the_llm_server() -> None:
    docs = render(VARIANTS["everything"])
    pods = {name: d["spec"]["template"]["metadata"]["labels"] for name, d in objects(docs, "Deployment").items()}
    policies = objects(docs, "NetworkPolicy")
    assert set(policies) == {"cf-callflows-llm", "cf-callflows-admin", "cf-callflows-phone"}
    for name, policy in policies.items():
        assert _selects(policy["spec"]["podSelector"], pods[name])  # each guards its own pods
        assert [p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]] == ["http"]
    (llm_rule,) = policies["cf-callflows-llm"]["spec"]["ingress"]
    (peer,) = llm_rule["from"]
    allowed = {name for name, labels in pods.items() if _selects(peer["podSelector"], labels)}
    assert allowed == {"cf-callflows-phone", "cf-callflows-admin"}
    assert "NetworkPolicy" not in {d["kind"] for d in render()}  # off by default (needs an enforcing CNI)
    assert set(objects(render(VARIANTS["minimal"]), "NetworkPolicy")) == {"cf-callflows-phone"}


def test_every_command_is_a_real_cli_command_and_every_variable_is_read() -> None:
    literals, families = _code_literals(), _families()
    documented = (ROOT / ".env.example").read_text()
    for variant in VARIANTS.values():
        docs = render(variant)
        for obj in [*objects(docs, "Deployment").values(), *objects(docs, "CronJob").values()]:
            for container in [*pod_spec(obj)["containers"], *pod_spec(obj).get("initContainers", [])]:
                command = container["command"]
                if command[0] == "callflows":
                    assert CliRunner().invoke(cli, [*command[1:], "--help"]).exit_code == 0, command
                    _parse_without_running(command[1:])  # unknown options or bad values raise here
                for name in env_of(container):
                    assert _read_by_code(name, literals, families), f"{name} is not read by the code"
                    assert name.startswith("CALLFLOWS_MODEL_") or name in documented, f"{name} not in .env.example"


def test_secrets_come_from_the_values_or_the_named_secrets() -> None:
    own = objects(render({"secrets": {"recordingKey": "k1", "metricsToken": "m1"}}), "Secret")
    assert set(own) == {"cf-callflows-secrets"}
    assert own["cf-callflows-secrets"]["stringData"] == {
        "database-url": REQUIRED["database"]["url"], "twilio-auth-token": "test-token",
        "recording-key": "k1", "metrics-token": "m1"}
    docs = render(VARIANTS["everything"])
    assert objects(docs, "Secret") == {}  # nothing to write: both Secrets are the user's
    env = env_of(pod_spec(objects(docs, "Deployment")["cf-callflows-phone"])["containers"][0])
    assert env["CALLFLOWS_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "pg-app", "key": "uri"}
    token = env["TWILIO_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert token["name"] == "callflows-keys" and token["key"] == "twilio-auth-token" and not token["optional"]
    assert env["CALLFLOWS_RECORDING_KEY"]["valueFrom"]["secretKeyRef"]["optional"] is True


def test_the_llm_server_runs_the_manifest_escalation_model_with_cpu_requests() -> None:
    docs = render()
    llm = objects(docs, "Deployment")["cf-callflows-llm"]
    (container,) = pod_spec(llm)["containers"]
    script = container["command"][-1]
    assert container["command"][:2] == ["sh", "-ec"]
    assert script.startswith("exec python -m llama_cpp.server")
    assert '--model "$(python -m callflows.cli.models path llm_escalation)"' in script
    assert '--model_alias "qwen2.5-coder-1.5b-instruct"' in script and "--n_threads 2" in script
    resources = container["resources"]
    assert resources["requests"]["cpu"] == resources["limits"]["cpu"] == "2"  # dedicated cores
    phone_env = env_of(pod_spec(objects(docs, "Deployment")["cf-callflows-phone"])["containers"][0])
    assert phone_env["CALLFLOWS_LLM_ESCALATION_URL"]["value"] == "http://cf-callflows-llm:8000"
    assert phone_env["CALLFLOWS_LLM_ESCALATION_MODEL"]["value"] == "qwen2.5-coder-1.5b-instruct"
    # the path the command asks for is the compose service's (docker-compose.yml) in the image
    target = Manifest.load(ROOT / "models" / "manifest.yaml").spec("llm_escalation").target
    assert target.relative_to(ROOT).as_posix() in (ROOT / "docker-compose.yml").read_text()
    minimal = objects(render(VARIANTS["minimal"]), "Deployment")
    assert set(minimal) == {"cf-callflows-phone"}
    assert env_of(pod_spec(minimal["cf-callflows-phone"])["containers"][0])[
        "CALLFLOWS_LLM_ESCALATION_URL"]["value"] == "http://vllm.gpu:8000"


def _run_script(script: str, env: dict[str, dict[str, Any]], models_dir: Path) -> subprocess.CompletedProcess[str]:
    """A container's shell script here: its environment, this venv's python, the models in models_dir."""
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("CALLFLOWS_MODEL_")}
    run_env.update({name: e["value"] for name, e in env.items() if "value" in e})
    run_env.update(CALLFLOWS_MODELS_DIR=str(models_dir), PATH=f"{Path(sys.executable).parent}:{run_env['PATH']}")
    return subprocess.run(["sh", "-ec", script], env=run_env, capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_the_models_init_container_downloads_and_verifies_with_the_product(tmp_path: Path) -> None:
    """models.source=fetch: the init container's own script, run here against a file:// URL, downloads
    the model and checks its sha256 with `callflows models path`; the server's container, with the same
    environment, then finds it without a download; a wrong checksum fails the init container."""
    model = tmp_path / "escalation.gguf"
    model.write_bytes(os.urandom(4096))
    sha = hashlib.sha256(model.read_bytes()).hexdigest()

    def init_and_llm(sha256: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        docs = render({"models": {"source": "fetch", "fetch": {"llm_escalation": {"url": model.as_uri(), "sha256": sha256}}}})
        llm_pod = pod_spec(objects(docs, "Deployment")["cf-callflows-llm"])
        (init,) = llm_pod["initContainers"]
        phone_pod = pod_spec(objects(docs, "Deployment")["cf-callflows-phone"])
        assert phone_pod["initContainers"][0]["command"] == init["command"]
        mounts = {m["name"]: m["mountPath"] for m in init["volumeMounts"]}
        assert mounts == {"models-fetched": "/app/models/.cache/user"}  # the manifest's cache_dir/user in the image
        assert {m["mountPath"] for m in llm_pod["containers"][0]["volumeMounts"]} == {"/app/models/.cache/user"}
        return init, llm_pod["containers"][0], env_of(llm_pod["containers"][0])

    init, llm, llm_env = init_and_llm(sha)
    assert llm_env["CALLFLOWS_MODEL_LLM_ESCALATION"]["value"] == f"{model.as_uri()}#sha256={sha}"
    cache = tmp_path / "cache"
    done = _run_script(init["command"][-1], env_of(init), cache)
    assert done.returncode == 0, done.stderr
    fetched = cache / "user" / sha[:16] / model.name
    assert done.stdout.strip() == str(fetched) and fetched.read_bytes() == model.read_bytes()
    model.rename(tmp_path / "gone.gguf")  # the server's container must not download again
    resolved = _run_script("python -m callflows.cli.models path llm_escalation", llm_env, cache)
    assert resolved.returncode == 0 and resolved.stdout.strip() == str(fetched), resolved.stderr
    (tmp_path / "gone.gguf").rename(model)

    bad, _, _ = init_and_llm("0" * 64)
    failed = _run_script(bad["command"][-1], env_of(bad), tmp_path / "cache2")
    assert failed.returncode != 0 and "sha256" in (failed.stderr + failed.stdout).lower()
    assert not list((tmp_path / "cache2").rglob("*.gguf"))  # a wrong download is deleted


def test_recordings_share_one_volume_and_are_swept() -> None:
    docs = render(VARIANTS["everything"])
    (claim,) = objects(docs, "PersistentVolumeClaim").values()
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    users = [*objects(docs, "Deployment").values(), *objects(docs, "CronJob").values()]
    mounted = set()
    for obj in users:
        volumes = {v["name"]: v for v in pod_spec(obj).get("volumes", [])}
        if "recordings" in volumes:
            assert volumes["recordings"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
            (container,) = pod_spec(obj)["containers"]
            assert {"name": "recordings", "mountPath": "/app/var/recordings"} in container["volumeMounts"]
            assert env_of(container)["CALLFLOWS_RECORDINGS_DIR"]["value"] == "/app/var/recordings"
            mounted.add(obj["metadata"]["name"])
    assert mounted == {"cf-callflows-phone", "cf-callflows-admin", "cf-callflows-sweep-recordings"}
    commands = {name: pod_spec(c)["containers"][0]["command"] for name, c in objects(docs, "CronJob").items()}
    assert commands == {"cf-callflows-sweep-calls": ["callflows", "calls", "sweep", "--json"],
                        "cf-callflows-sweep-recordings": ["callflows", "recordings", "sweep", "--json"]}
    assert "PersistentVolumeClaim" not in {d["kind"] for d in render()}
