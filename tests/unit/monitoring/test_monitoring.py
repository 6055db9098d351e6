"""The Grafana dashboard and the alert rules in deploy/ use only metrics the code registers (so
the two cannot drift apart), the dashboard shows every one, the names follow Prometheus'
conventions, and the PrometheusRule has the shape prometheus-operator reads. With promtool
(tools/prometheus/setup.sh; `make test` installs it) the rules are also checked and their unit
tests run, and every dashboard query is parsed as PromQL."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from transom.agent.metrics import AgentMetrics
from transom.controller.cache import Cache
from transom.controller.metrics import ControllerMetrics
from transom.kube.client import Kube
from transom.kube.config import KubeConfig

REPO = Path(__file__).resolve().parents[3]
DASHBOARD = REPO / "deploy" / "grafana" / "transom-dashboard.json"
RULES = REPO / "deploy" / "prometheus" / "transom-alerts.yaml"
RULE_TESTS = Path(__file__).with_name("alerts_test.yaml")
#: What the issue asks alerts for: rollout stalled, hosts offline, certificate expiring,
#: audit checkpoint stale.
EXPECTED_ALERTS = {
    "TransomRolloutStalled",
    "TransomHostsOffline",
    "TransomCertificateExpiring",
    "TransomAuditCheckpointStale",
}
_NAME = re.compile(r"\btransom_[a-z0-9_]*[a-z0-9]")
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gauge": ("",),
}


def registries() -> list[CollectorRegistry]:
    kube = Kube(KubeConfig(server="https://127.0.0.1:1", token="t"))
    controller = ControllerMetrics()
    controller.observe_hosts(Cache(kube))
    agent = AgentMetrics()
    agent.observe_agent("web01", kube, None)
    return [controller.registry, agent.registry]


def families() -> dict[str, str]:
    """Every transom_* metric family the code registers -> its type."""
    out = {}
    for registry in registries():
        for family in registry.collect():
            if family.name.startswith("transom_"):
                out[family.name] = family.type
    return out


def sample_names() -> set[str]:
    return {name + s for name, kind in families().items() for s in _SUFFIXES[kind]}


def dashboard_queries() -> list[str]:
    def walk(panels: list[dict[str, Any]]) -> Iterator[str]:
        for panel in panels:
            for target in panel.get("targets", []):
                yield str(target["expr"])
            yield from walk(panel.get("panels", []))

    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queries = list(walk(dash["panels"]))
    for var in dash["templating"]["list"]:
        if var["type"] == "query":
            queries.append(var["query"]["query"])
    return queries


def rules() -> dict[str, Any]:
    doc = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def alert_rules() -> list[dict[str, Any]]:
    return [r for g in rules()["spec"]["groups"] for r in g["rules"]]


def test_the_code_registers_the_metrics_the_issue_names() -> None:
    registered = families()
    assert {
        "transom_rollout_duration_seconds": "histogram",
        "transom_hosts": "gauge",
        "transom_configuration_hosts": "gauge",
        "transom_drift_events": "counter",
        "transom_apply_duration_seconds": "histogram",
        "transom_api_requests": "counter",
        "transom_certificate_expiry_timestamp_seconds": "gauge",
        "transom_audit_checkpoint_age_seconds": "gauge",
        "transom_audit_last_checkpoint_timestamp_seconds": "gauge",
    }.items() <= registered.items()


def test_names_follow_prometheus_conventions() -> None:
    for name, kind in families().items():
        assert re.fullmatch(r"transom_[a-z][a-z0-9_]*", name), name
        if kind == "histogram":
            assert name.endswith("_seconds"), f"{name}: a histogram of time is in seconds"
        if "timestamp" in name or name.endswith(("_age", "_duration")):
            assert name.endswith("_seconds"), f"{name}: times carry their unit"
        if kind == "gauge":
            assert not name.endswith("_total"), f"{name}: _total is for counters"


def test_the_dashboard_uses_only_registered_metrics_and_shows_every_one() -> None:
    known = sample_names()
    used = {n for q in dashboard_queries() for n in _NAME.findall(q)}
    assert used, "no transom_* metric found in the dashboard"
    assert used <= known, f"the dashboard names metrics nothing registers: {used - known}"
    shown = {
        name for name, kind in families().items() if used & {name + s for s in _SUFFIXES[kind]}
    }
    assert shown == set(families()), f"not on the dashboard: {set(families()) - shown}"


def test_the_dashboard_is_a_grafana_dashboard() -> None:
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dash["title"] == "Transom" and dash["uid"]
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in dash["panels"]:
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"])
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        if panel["type"] != "row":
            # Every panel reads the data source chosen in the dashboard's variable.
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert panel["targets"], panel["title"]


def test_the_prometheus_rule_has_the_operators_shape() -> None:
    doc = rules()
    assert doc["apiVersion"] == "monitoring.coreos.com/v1"
    assert doc["kind"] == "PrometheusRule"
    assert doc["metadata"]["name"]
    groups = doc["spec"]["groups"]
    assert len({g["name"] for g in groups}) == len(groups)
    for rule in alert_rules():
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert isinstance(rule["expr"], str) and rule["expr"].strip()
        if "for" in rule:
            assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["for"]
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
    assert {r["alert"] for r in alert_rules()} >= EXPECTED_ALERTS


def test_the_rules_use_only_registered_metrics() -> None:
    known = sample_names()
    for rule in alert_rules():
        used = set(_NAME.findall(rule["expr"]))
        assert used, rule["alert"]
        assert used <= known, f"{rule['alert']} names metrics nothing registers: {used - known}"
    alerted = {n for r in alert_rules() for n in _NAME.findall(r["expr"])}
    for name in (
        "transom_rollout_start_timestamp_seconds",
        "transom_hosts",
        "transom_certificate_expiry_timestamp_seconds",
        "transom_audit_checkpoint_age_seconds",
    ):
        assert name in alerted


def promtool() -> str:
    cache = Path(os.environ.get("TRANSOM_CACHE", Path.home() / ".cache" / "transom")) / "bin"
    found = sorted(cache.glob("promtool-*/promtool")) or [
        Path(p) for p in filter(None, [shutil.which("promtool")])
    ]
    if not found:
        pytest.skip("promtool not installed: tools/prometheus/setup.sh (make test runs it)")
    return str(found[-1])


def run(cmd: list[str], cwd: Path) -> str:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_promtool_checks_the_rules_and_runs_their_unit_tests(tmp_path: Path) -> None:
    tool = promtool()
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules()["spec"]), encoding="utf-8")
    shutil.copy(RULE_TESTS, tmp_path / "alerts_test.yaml")
    assert "SUCCESS" in run([tool, "check", "rules", "rules.yaml"], tmp_path)
    assert "SUCCESS" in run([tool, "test", "rules", "alerts_test.yaml"], tmp_path)


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    tool = promtool()
    grafana = {
        "$__rate_interval": "5m",
        "$__range": "6h",
        "$namespace": ".*",
        "$configuration": ".*",
    }
    records = []
    for i, panel_query in enumerate(dashboard_queries()):
        query = panel_query
        for var, value in grafana.items():
            query = query.replace(var, value)
        if query.startswith("label_values("):
            query = query.removeprefix("label_values(").rsplit(",", 1)[0]
        assert "$" not in query, f"a Grafana variable the check does not know: {query}"
        records.append({"record": f"dashboard:query_{i}", "expr": query})
    rule_file = {"groups": [{"name": "dashboard", "rules": records}]}
    (tmp_path / "dashboard.yaml").write_text(yaml.safe_dump(rule_file), encoding="utf-8")
    assert "SUCCESS" in run([tool, "check", "rules", "dashboard.yaml"], tmp_path)


def test_the_service_monitor_scrapes_what_the_controller_deployment_serves() -> None:
    from transom.api import deployment

    objs = {o["kind"]: o for o in deployment.objects()}
    container = objs["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    args = container["args"]
    assert args[args.index("--metrics-addr") + 1] == f"0.0.0.0:{deployment.METRICS_PORT}"
    [port] = [p for p in container["ports"] if p["name"] == "metrics"]
    assert port["containerPort"] == deployment.METRICS_PORT
    service = objs["Service"]
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    pod_labels = objs["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    monitor = yaml.safe_load((RULES.parent / "servicemonitor.yaml").read_text(encoding="utf-8"))
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["metadata"]["namespace"] == service["metadata"]["namespace"]
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == [
        service["spec"]["ports"][0]["name"]
    ]
    kustomization = yaml.safe_load(
        (RULES.parent / "kustomization.yaml").read_text(encoding="utf-8")
    )
    assert set(kustomization["resources"]) == {"servicemonitor.yaml", RULES.name}
