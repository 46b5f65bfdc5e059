"""deploy/prometheus: the scrape config and the alerting rules are valid (promtool), each alert
fires on the series that should fire it (promtool's rule tests), and every metric the rules and
the Grafana dashboard name is one the code exports. No servers needed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from leaderboard_project import metrics as web_metrics
from scoring import metrics as consumer_metrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "leaderboard.json"
PROMTOOL = shutil.which("promtool")
# Words of PromQL that look like metric names but are not.
PROMQL_WORDS = {
    "sum", "max", "min", "avg", "by", "rate", "increase", "deriv", "time", "and", "or", "unless",
    "histogram_quantile", "absent", "up", "le", "job", "instance", "status", "route", "method",
    "error", "source", "bool", "on", "ignoring", "offset", "count", "topk", "vector", "clamp_min",
}  # fmt: skip


def promtool(*args: str) -> subprocess.CompletedProcess:
    assert PROMTOOL, "promtool is missing: `make test` installs Debian's prometheus package"
    return subprocess.run([PROMTOOL, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60)


def test_the_scrape_config_is_valid():
    result = promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_rules_are_valid():
    result = promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 13 rules found" in result.stdout  # 12, and the results undelivered


def test_each_alert_fires_when_it_should_and_only_then():
    result = promtool("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def exported_names() -> set[str]:
    """Every sample name the service exports (histograms with their _bucket/_sum/_count)."""
    names = set()
    for registry in (consumer_metrics.REGISTRY, web_metrics.REGISTRY):
        for family in registry.collect():
            names.update(sample.name for sample in family.samples)
            names.add(family.name + ("_total" if family.type == "counter" else ""))
            if family.type == "histogram":
                names.update(family.name + suffix for suffix in ("_bucket", "_sum", "_count"))
    return names


def metric_names_in(expression: str) -> set[str]:
    expression = re.sub(r'"[^"]*"', "", expression)  # label values
    expression = re.sub(r"\[[^\]]*\]", "", expression)  # ranges
    expression = re.sub(r"\{\{[^}]*\}\}", "", expression)
    words = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expression))
    return {w for w in words if w not in PROMQL_WORDS and not w.startswith("$") and "_" in w}


def alert_expressions() -> list[str]:
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


@pytest.mark.parametrize("source", ["alerts", "dashboard"])
def test_every_metric_named_is_exported(source):
    expressions = alert_expressions() if source == "alerts" else dashboard_expressions()
    assert expressions
    named = set().union(*(metric_names_in(e) for e in expressions))
    assert named, expressions
    assert named - exported_names() == set()


def test_metric_names_follow_the_conventions():
    for registry in (consumer_metrics.REGISTRY, web_metrics.REGISTRY):
        for family in registry.collect():
            if family.name.startswith(("process_", "python_")):
                continue  # prometheus-client's own collectors
            assert family.name.startswith(("leaderboard_consumer_", "http_")), family.name
            if family.type == "counter":
                assert not family.name.endswith("_total")  # the client adds it to the samples
            if family.type == "histogram":
                assert family.name.endswith("_seconds"), family.name
            assert family.documentation, family.name
