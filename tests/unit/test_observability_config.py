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
    rules = yaml.safe_load((DOCKER / "prometheus" / "rules" / "techgear.yml").read_text())
    exprs = [t["expr"] for d in dashboards for p in d["panels"] for t in p.get("targets", [])]
    return exprs + [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


@promtool
def test_alert_rules_are_valid_and_their_unit_tests_pass() -> None:
    rules = DOCKER / "prometheus" / "rules"
    subprocess.run(
        ["promtool", "check", "rules", str(rules / "techgear.yml")], check=True, capture_output=True
    )
    result = subprocess.run(
        ["promtool", "test", "rules", "techgear.test.yml"],
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
    datasource = yaml.safe_load(
        (DOCKER / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    uid = datasource["datasources"][0]["uid"]
    assert all(p["datasource"]["uid"] == uid for p in dashboard["panels"] if p["type"] != "row")
