"""Deployment files checked statically (no Docker engine here)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from ipaddress import ip_network
from pathlib import Path
from string import Template
from typing import Any

import pytest
import redis
import yaml
from pydantic_settings import BaseSettings

from gateway.settings import GatewaySettings
from helpdesk.settings import HelpdeskSettings
from runtime.logs import LoggingSettings
from runtime.settings import WORKER_GROUP_ID
from schemas.topics import REQUESTS, TOPICS
from streams.settings import WorkerSettings
from techgear.kafka_access import ACCESS
from techgear.services import ServicesSettings
from tests.nginx_config import local_nginx_config

REPO = Path(__file__).resolve().parents[1].parent
SETTINGS: list[type[BaseSettings]] = [
    GatewaySettings,
    WorkerSettings,
    ServicesSettings,
    LoggingSettings,
    HelpdeskSettings,
]


def documented(path: Path) -> set[str]:
    return set(re.findall(r"^([A-Z][A-Z0-9_]+)=", path.read_text(), flags=re.MULTILINE))


def test_every_setting_the_code_reads_is_documented_in_env_example() -> None:
    read = {name.upper() for settings in SETTINGS for name in settings.model_fields}
    missing = read - documented(REPO / ".env.example")
    assert not missing, f"document in .env.example: {sorted(missing)}"


def test_compose_file_follows_the_compose_specification() -> None:
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(REPO / "docker-compose.yml"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
def test_shell_scripts_pass_shellcheck() -> None:
    scripts = [REPO / ".ci" / "run", *sorted((REPO / "docker").rglob("*.sh"))]
    result = subprocess.run(["shellcheck", *map(str, scripts)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx not installed")
def test_nginx_configuration_is_valid(tmp_path: Path) -> None:
    config = local_nginx_config(tmp_path, "127.0.0.2:18099", [18003, 18004])
    result = subprocess.run(
        ["nginx", "-t", "-c", str(config), "-p", str(tmp_path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


K8S = REPO / "docker" / "k8s"


def k8s_documents(path: Path) -> list[dict[str, object]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def test_kubernetes_manifests_validate_against_the_kubernetes_schemas() -> None:
    manifests = [
        p
        for p in sorted((K8S / "base").glob("*.yaml"))
        if p.name not in {"kustomization.yaml", "worker-scaledobject.yaml"}
    ]
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "kubernetes-validate"),
            "--strict",
            "--quiet",
            "-k",
            "1.30.0",
            *map(str, manifests),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_kustomizations_name_files_that_exist() -> None:
    for kustomization in K8S.rglob("kustomization.yaml"):
        config = yaml.safe_load(kustomization.read_text())
        entries = (
            list(config.get("resources", []))
            + [patch["path"] for patch in config.get("patches", [])]
            + [
                file
                for generator in config.get("configMapGenerator", [])
                for file in generator["files"]
            ]
        )
        assert entries and all((kustomization.parent / entry).exists() for entry in entries), (
            kustomization
        )


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
@pytest.mark.parametrize("kustomization", ["base", "overlays/production"])
def test_kustomization_builds_into_valid_kubernetes_objects(
    kustomization: str, tmp_path: Path
) -> None:
    built = subprocess.run(
        ["kubectl", "kustomize", str(K8S / kustomization)], capture_output=True, text=True
    )
    assert built.returncode == 0, built.stderr
    manifest = tmp_path / "built.yaml"
    manifest.write_text(built.stdout)
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "kubernetes-validate"),
            *("--strict", "--quiet", "-k", "1.30.0", str(manifest)),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


Grant = tuple[str, str, str, str, frozenset[str]]
"""principal, resource type, pattern type, resource name, operations"""


def compose_acl_grants() -> set[Grant]:
    grants = set()
    for line in (REPO / "docker" / "kafka" / "acls.sh").read_text().splitlines():
        if not line.startswith("kafka-acls.sh "):
            continue
        words = line.split()
        option = {
            words[i]: words[i + 1] for i in range(len(words) - 1) if words[i].startswith("--")
        }
        kind = "topic" if "--topic" in option else "group"
        grants.add(
            (
                option["--allow-principal"].removeprefix("User:"),
                kind,
                option.get("--resource-pattern-type", "literal"),
                option[f"--{kind}"],
                frozenset(words[i + 1] for i, word in enumerate(words) if word == "--operation"),
            )
        )
    return grants


def test_the_compose_broker_grants_what_the_acl_table_of_the_code_grants() -> None:
    table = {
        (
            grant.principal,
            grant.resource.value,
            grant.pattern.value,
            grant.name,
            frozenset(operation.value for operation in grant.operations),
        )
        for grant in ACCESS
    }
    assert compose_acl_grants() == table


def test_kubernetes_kafka_users_grant_what_the_compose_broker_grants() -> None:
    pattern = {"literal": "literal", "prefix": "prefixed"}
    users: list[Any] = k8s_documents(K8S / "base" / "kafka-users.yaml")
    grants = {
        (
            user["metadata"]["name"],
            acl["resource"]["type"],
            pattern[acl["resource"]["patternType"]],
            acl["resource"]["name"],
            frozenset(acl["operations"]),
        )
        for user in users
        if user["metadata"]["name"] != "keda"  # KEDA's lag reader, not a service
        for acl in user["spec"]["authorization"]["acls"]
    }
    assert grants == compose_acl_grants()


COMPOSE_ONLY_SECRETS = {
    f"{store}_{user}_PASSWORD"
    for store, users in {
        "KAFKA": ["ADMIN", "GATEWAY", "WORKER", "HELPDESK", "OPS"],
        "REDIS": ["GATEWAY", "WORKER", "HELPDESK"],
    }.items()
    for user in users
}


def test_compose_gives_each_application_container_only_its_own_credentials() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    for name, service in compose["services"].items():
        if service.get("env_file") is None:
            continue
        environment = service.get("environment", {})
        assert {environment.get(secret) for secret in COMPOSE_ONLY_SECRETS} == {""}, name
        for store in ("KAFKA", "REDIS"):
            user = environment.get(f"{store}_{'SASL_' if store == 'KAFKA' else ''}USERNAME")
            password = environment.get(f"{store}_{'SASL_' if store == 'KAFKA' else ''}PASSWORD")
            if user is not None:
                assert password.startswith(f"${{{store}_{user.upper()}_PASSWORD:?"), name


NGINX_CHROMA_TEMPLATE = REPO / "docker" / "nginx" / "chroma-auth.conf.template"


@pytest.mark.skipif(
    not NGINX_CHROMA_TEMPLATE.exists(), reason="the Chroma proxy template is not merged yet"
)
def test_kubernetes_chroma_proxy_uses_the_compose_template() -> None:
    copy = K8S / "base" / "chroma-auth.conf.template"
    assert copy.read_text() == NGINX_CHROMA_TEMPLATE.read_text()


def test_every_setting_is_in_the_configmap_or_the_secret_template() -> None:
    configmap = k8s_documents(K8S / "base" / "configmap.yaml")[0]
    secret = k8s_documents(K8S / "base" / "secret.example.yaml")[0]
    provided = set(configmap["data"]) | set(secret["stringData"])  # type: ignore[call-overload]
    read = {name.upper() for settings in SETTINGS for name in settings.model_fields}
    assert not read - provided, f"add to the ConfigMap or Secret: {sorted(read - provided)}"


# The ingress controller's few pods; a node's or the cluster's pod range would let any pod
# in it choose its own client address.
MOST_TRUSTED_ADDRESSES = 16


def test_kubernetes_trusts_no_proxy_range_wider_than_the_ingress_controller() -> None:
    configs = [
        doc
        for path in K8S.rglob("*.yaml")
        for doc in k8s_documents(path)
        if doc.get("kind") == "ConfigMap"
    ]
    entries = [
        entry
        for config in configs
        for entry in str(config["data"].get("TRUSTED_PROXIES", "")).split(",")  # type: ignore[attr-defined]
        if entry.strip()
    ]
    assert entries, "an overlay should show how to trust the ingress controller"
    broad = [
        e
        for e in entries
        if ip_network(e.strip(), strict=False).num_addresses > MOST_TRUSTED_ADDRESSES
    ]
    assert not broad, f"trust only the ingress controller's pods, not {broad}"


def test_worker_autoscaling_stops_at_the_partition_count() -> None:
    scaled = k8s_documents(K8S / "base" / "worker-scaledobject.yaml")[0]
    requests = next(spec for spec in TOPICS if spec.name == REQUESTS)
    assert scaled["spec"]["maxReplicaCount"] == requests.partitions  # type: ignore[index]
    assert scaled["spec"]["triggers"][0]["metadata"]["consumerGroup"] == WORKER_GROUP_ID  # type: ignore[index]


REDIS_PASSWORDS = {
    "REDIS_GATEWAY_PASSWORD": "gateway-password-0123456789",
    "REDIS_WORKER_PASSWORD": "worker-password-0123456789",
    "REDIS_HELPDESK_PASSWORD": "helpdesk-password-0123456789",
}


@pytest.fixture
def compose_redis(tmp_path: Path) -> Iterator[Callable[[str | None], redis.Redis]]:
    """Debian's redis-server with the compose ACL users, on a Unix socket; gives a client
    logged in as the named user (None: not logged in)."""
    template = (REPO / "docker" / "redis" / "users.acl.template").read_text()
    acl_file = tmp_path / "users.acl"
    acl_file.write_text(Template(template).substitute(REDIS_PASSWORDS))
    socket = tmp_path / "redis.sock"
    server = subprocess.Popen(
        [
            "redis-server",
            "--port",
            "0",
            "--unixsocket",
            str(socket),
            "--aclfile",
            str(acl_file),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    clients: list[redis.Redis] = []

    def client(user: str | None) -> redis.Redis:
        password = REDIS_PASSWORDS.get(f"REDIS_{(user or '').upper()}_PASSWORD", "any")
        connection = redis.Redis(
            unix_socket_path=str(socket), username=user, password=password if user else None
        )
        clients.append(connection)
        return connection

    try:
        deadline = time.monotonic() + 10
        while not socket.exists():
            assert server.poll() is None, "redis-server refused the ACL file"
            assert time.monotonic() < deadline, "redis-server did not open its socket"
            time.sleep(0.05)
        yield client
    finally:
        for connection in clients:
            connection.close()
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")
def test_compose_redis_users_reach_their_own_keys_only(
    compose_redis: Callable[[str | None], redis.Redis],
) -> None:
    with pytest.raises(redis.AuthenticationError):
        compose_redis(None).get("techgear:answer:v1:x")
    assert compose_redis("healthcheck").ping()

    worker = compose_redis("worker")
    worker.set("techgear:answer:v1:q", "answer", ex=60)
    worker.set("techgear:answer-scope:v1", "scope")

    gateway = compose_redis("gateway")
    bucket = gateway.register_script(
        "local t = redis.call('TIME') redis.call('HMGET', KEYS[1], 'tokens', 'ts') "
        "redis.call('HSET', KEYS[1], 'tokens', '1', 'ts', t[1]) "
        "return redis.call('PEXPIRE', KEYS[1], 1000)"
    )
    assert bucket(keys=["techgear:ratelimit:minute:key"]) == 1
    assert gateway.set("techgear:conversation:owner:c", "p", nx=True, ex=60)
    assert gateway.expire("techgear:authfail:10.0.0.1", 60) == 0
    assert gateway.set("techgear:reply-partition:0", "gateway-1", nx=True, px=30_000)
    assert gateway.delete("techgear:reply-partition:0") == 1  # released at a clean stop
    assert gateway.get("techgear:answer:v1:q") == b"answer"
    assert gateway.get("techgear:answer-scope:v1") == b"scope"

    helpdesk = compose_redis("helpdesk")
    with helpdesk.pipeline(transaction=True) as pipe:
        pipe.zremrangebyscore("techgear:helpdesk:zendesk:tickets:p", "-inf", 0)
        pipe.zadd("techgear:helpdesk:zendesk:tickets:p", {"e": 1})
        pipe.zrank("techgear:helpdesk:zendesk:tickets:p", "e")
        pipe.expire("techgear:helpdesk:zendesk:tickets:p", 60)
        assert pipe.execute()[2] == 0
    helpdesk.set("techgear:helpdesk:zendesk:event:e", "1")
    assert helpdesk.exists("techgear:helpdesk:zendesk:event:e") == 1
    assert helpdesk.set("techgear:ticket-conversation:freshdesk:7", "c", ex=60)

    refused: list[Callable[[], object]] = [
        lambda: gateway.set("techgear:answer:v1:q", "forged"),
        lambda: gateway.get("techgear:helpdesk:zendesk:event:e"),
        lambda: worker.get("techgear:conversation:owner:c"),
        lambda: helpdesk.get("techgear:answer:v1:q"),
        lambda: worker.keys("*"),
        lambda: gateway.flushall(),
        lambda: helpdesk.config_get("requirepass"),
        lambda: compose_redis("healthcheck").get("techgear:answer:v1:q"),
    ]
    for command in refused:
        with pytest.raises(redis.exceptions.NoPermissionError):
            command()
