"""Prometheus rules and Grafana dashboards, checked against the metrics the code defines."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

import gateway.metrics  # noqa: F401  (registers the gateway's metrics)
import streams.metrics  # noqa: F401  (registers the worker's metrics)

DOCKER = Path(__file__).resolve().parents[2] / "docker"
_METRIC = re.compile(r"\b((?:techgear|process)_[a-z0-9_]+)")
_SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created")
promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")


def defined_metrics() -> set[str]:
    return {metric.name for metric in REGISTRY.collect()} | {
        sample.name for metric in REGISTRY.collect() for sample in metric.samples
    }


def base_name(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def queries() -> list[str]:
    dashboards = [
        json.loads(p.read_text()) for p in (DOCKER / "grafana" / "dashboards").glob("*.json")
    ]
    exprs = [t["expr"] for d in dashboards for p in d["panels"] for t in p.get("targets", [])]
    return exprs + [
        rule["expr"]
        for path in rule_files()
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]


def rule_files() -> list[Path]:
    rules = DOCKER / "prometheus" / "rules"
    return sorted(set(rules.glob("*.yml")) - set(rules.glob("*.test.yml")))


@promtool
def test_alert_rules_are_valid_and_their_unit_tests_pass() -> None:
    rules = DOCKER / "prometheus" / "rules"
    subprocess.run(
        ["promtool", "check", "rules", *map(str, rule_files())], check=True, capture_output=True
    )
    tests = sorted(path.name for path in rules.glob("*.test.yml"))
    assert {"techgear.test.yml", "outcomes.test.yml"} <= set(tests)
    result = subprocess.run(
        ["promtool", "test", "rules", *tests],
        cwd=rules,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_query_names_a_metric_the_code_defines() -> None:
    known = {base_name(name) for name in defined_metrics()}
    used = {base_name(name) for expr in queries() for name in _METRIC.findall(expr)}
    assert used, "no metric found in the queries"
    assert used <= known, f"unknown metrics: {sorted(used - known)}"


def test_dashboards_cover_every_area_and_use_the_provisioned_datasource() -> None:
    dashboard = json.loads(
        (DOCKER / "grafana" / "dashboards" / "techgear-overview.json").read_text()
    )
    rows = {p["title"] for p in dashboard["panels"] if p["type"] == "row"}
    assert rows >= {
        "Traffic",
        "Latency",
        "Categories and escalations",
        "Cache and rate limiting",
        "Kafka",
        "LLM",
        "Human handoff",
    }
    uid = provisioned_datasource_uid()
    assert all(p["datasource"]["uid"] == uid for p in dashboard["panels"] if p["type"] != "row")


def provisioned_datasource_uid() -> str:
    datasource = yaml.safe_load(
        (DOCKER / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    uid: str = datasource["datasources"][0]["uid"]
    return uid


def test_the_outcomes_dashboard_shows_every_figure_on_the_provisioned_datasource() -> None:
    dashboard = json.loads(
        (DOCKER / "grafana" / "dashboards" / "techgear-outcomes.json").read_text()
    )
    assert dashboard["title"] == "Support outcomes"
    rows = {p["title"] for p in dashboard["panels"] if p["type"] == "row"}
    assert rows >= {"Questions, answers and escalations", "Resolution and handoff", "Ratings"}
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p.get("targets", []))
    for figure in ("questions", "answered", "escalated", "resolved", "taken_over"):
        assert f"techgear_outcomes_{figure}" in exprs or f"current_{figure}" in exprs
    assert "by (category)" in exprs and "by (doc_id)" in exprs
    uid = provisioned_datasource_uid()
    assert all(p["datasource"]["uid"] == uid for p in dashboard["panels"] if p["type"] != "row")
