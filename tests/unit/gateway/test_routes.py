"""The HTTP contract, with the Kafka bridge replaced by a scripted one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from pydantic import SecretStr
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.bridge import Probe
from gateway.keys import digest
from gateway.settings import GatewaySettings
from gateway.tokens import TokenService
from runtime.errors import BrokerUnavailableError, ConversationNotOwnedError, ProcessingFailedError
from schemas import ChatAnswer, ChatRequest, Customer
from schemas.export import ASYNCAPI_FILE, SCHEMAS_DIR

KEY = "k" * 32


class ScriptedBridge:
    def __init__(self) -> None:
        self.asked: list[ChatRequest] = []
        self.failure: Exception | None = None
        self.workers = Probe(True, 1.0, "1 member(s), Stable")
        self.listener = Probe(True, 0.0, "reading 18 partition(s)")

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def ask(self, request: ChatRequest, *, timeout_s: float) -> ChatAnswer:
        self.asked.append(request)
        if self.failure:
            raise self.failure
        return ChatAnswer(
            request_id=request.request_id,
            conversation_id=request.conversation_id,
            correlation_id=request.correlation_id,
            answer="Hello!",
            category="greeting",
            confidence=0.9,
            responder="offline",
            request_created_at=request.created_at,
        )

    async def probe_kafka(self) -> Probe:
        return Probe(True, 1.0, "reachable")

    async def probe_workers(self) -> Probe:
        return self.workers

    def probe_listener(self) -> Probe:
        return self.listener


@pytest.fixture
def bridge() -> ScriptedBridge:
    return ScriptedBridge()


@pytest.fixture
def client(bridge: ScriptedBridge) -> Iterator[TestClient]:
    settings = GatewaySettings(_env_file=None, api_keys=[SecretStr(KEY)], readiness_cache_s=0)  # type: ignore[call-arg]
    with TestClient(create_app(settings, bridge)) as test_client:  # type: ignore[arg-type]
        yield test_client


def test_answer_follows_the_contract(client: TestClient, bridge: ScriptedBridge) -> None:
    response = client.post(
        "/v1/chat",
        json={
            "message": "hi",
            "conversation_id": "c-1",
            "customer": {"id": "7", "name": "Ravi", "email": "r@x.in"},
        },
        headers={"X-API-Key": KEY, "X-Request-ID": "trace-1"},
    )

    assert response.status_code == 200
    assert set(response.json()) == {
        "request_id",
        "conversation_id",
        "answer",
        "category",
        "confidence",
        "escalated",
        "escalation_reason",
        "sources",
        "cached",
        "forwarded",
        "handoff_state",
        "expected_response_by",
        "conversation_seq",
        "conversation_token",
        "language",
        "replayed",
        "approved_answer_id",
    }
    [asked] = bridge.asked
    assert (asked.conversation_id, asked.correlation_id) == ("c-1", "trace-1")
    assert asked.customer is not None and asked.customer.name == "Ravi"
    assert asked.principal == f"key:{digest(KEY).hex()[:12]}" and not asked.customer_verified
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Request-ID"] == "trace-1"


def test_conversation_id_is_generated_when_absent(
    client: TestClient, bridge: ScriptedBridge
) -> None:
    response = client.post("/v1/chat", json={"message": "hi"}, headers={"X-API-Key": KEY})
    assert response.json()["conversation_id"] == bridge.asked[0].conversation_id != ""


def test_unsafe_correlation_header_is_replaced(client: TestClient, bridge: ScriptedBridge) -> None:
    response = client.post(
        "/v1/chat", json={"message": "hi"}, headers={"X-API-Key": KEY, "X-Request-ID": "a b\tc"}
    )
    assert bridge.asked[0].correlation_id == response.headers["X-Request-ID"] != "a b\tc"


def test_every_response_carries_a_correlation_id(client: TestClient) -> None:
    refused = client.post("/v1/chat", json={"message": "hi"})
    traced = client.get("/health", headers={"X-Request-ID": "trace-42"})
    assert refused.status_code == 401 and refused.headers["X-Request-ID"]
    assert traced.headers["X-Request-ID"] == "trace-42"


def test_timeout_gives_504_with_request_id(client: TestClient, bridge: ScriptedBridge) -> None:
    bridge.failure = TimeoutError()
    response = client.post("/v1/chat", json={"message": "hi"}, headers={"X-API-Key": KEY})

    assert response.status_code == 504
    assert response.json()["request_id"] == bridge.asked[0].request_id


def test_broker_down_gives_503_with_retry_after(client: TestClient, bridge: ScriptedBridge) -> None:
    bridge.failure = BrokerUnavailableError("down")
    response = client.post("/v1/chat", json={"message": "hi"}, headers={"X-API-Key": KEY})

    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"message": "   "}, 422, "message"),
        ({"message": "hi", "conversation_id": "bad id!"}, 422, "conversation_id"),
        ({"message": "hi", "customer": {"email": 5}}, 422, "customer.email"),
        (["message"], 422, "body"),
    ],
)
def test_invalid_bodies_name_the_problem(
    client: TestClient, bridge: ScriptedBridge, body: object, status: int, field: str
) -> None:
    response = client.post("/v1/chat", json=body, headers={"X-API-Key": KEY})

    assert response.status_code == status
    assert field in {d["field"] for d in response.json()["error"]["details"]}
    assert bridge.asked == []


def test_body_over_limit_is_refused_before_reading_it_all(
    client: TestClient, bridge: ScriptedBridge
) -> None:
    response = client.post("/v1/chat", content=b"x" * 20_000, headers={"X-API-Key": KEY})
    assert response.status_code == 413 and bridge.asked == []


def test_ready_is_503_with_detail_when_no_worker(
    client: TestClient, bridge: ScriptedBridge
) -> None:
    bridge.workers = Probe(False, 2.0, "no worker in consumer group techgear-worker")
    response = client.get("/ready")

    assert response.status_code == 503
    assert response.json()["checks"]["redis"]["required"] is False
    assert response.json()["checks"]["workers"] == {
        "ok": False,
        "required": True,
        "latency_ms": 2.0,
        "detail": "no worker in consumer group techgear-worker",
    }


def test_unknown_route_is_a_json_404(client: TestClient) -> None:
    response = client.get("/nope")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_dead_lettered_request_fails_fast_with_request_id(
    client: TestClient, bridge: ScriptedBridge
) -> None:
    bridge.failure = ProcessingFailedError("RuntimeError: boom")
    response = client.post("/v1/chat", json={"message": "hi"}, headers={"X-API-Key": KEY})

    assert response.status_code == 500
    assert response.json()["error"]["code"] == "processing_failed"
    assert response.json()["request_id"] == bridge.asked[0].request_id


def test_lifespan_runs_through_the_middleware_stack(bridge: ScriptedBridge) -> None:
    started: list[bool] = []

    async def start() -> None:
        started.append(True)

    bridge.start = start  # type: ignore[method-assign]
    settings = GatewaySettings(_env_file=None, api_keys=[SecretStr(KEY)])  # type: ignore[call-arg]
    with TestClient(create_app(settings, bridge)):  # type: ignore[arg-type]
        assert started == [True]


def test_chat_page_and_assets_are_served_with_a_content_security_policy(client: TestClient) -> None:
    page = client.get("/")
    script = client.get("/static/chat.js")
    assert page.status_code == 200 and "TechGear Support" in page.text
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert script.status_code == 200 and "new WebSocket" in script.text


def cors_client(origins: list[str], bridge: ScriptedBridge) -> TestClient:
    settings = GatewaySettings(_env_file=None, api_keys=[SecretStr(KEY)], cors_origins=origins)  # type: ignore[call-arg]
    return TestClient(create_app(settings, bridge))  # type: ignore[arg-type]


def test_cors_allows_configured_origins_with_credentials(bridge: ScriptedBridge) -> None:
    with cors_client(["https://shop.techgear.in"], bridge) as client:
        allowed = client.options(
            "/v1/chat",
            headers={"Origin": "https://shop.techgear.in", "Access-Control-Request-Method": "POST"},
        )
        refused = client.options(
            "/v1/chat",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
    assert allowed.headers["access-control-allow-origin"] == "https://shop.techgear.in"
    assert allowed.headers["access-control-allow-credentials"] == "true"
    assert "access-control-allow-origin" not in refused.headers


def test_cors_wildcard_never_allows_credentials(bridge: ScriptedBridge) -> None:
    with cors_client(["*"], bridge) as client:
        response = client.options(
            "/v1/chat",
            headers={"Origin": "https://any.example", "Access-Control-Request-Method": "POST"},
        )
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers


def test_ready_requires_a_configured_chroma_server(bridge: ScriptedBridge) -> None:
    settings = GatewaySettings(  # type: ignore[call-arg]
        _env_file=None,
        api_keys=[SecretStr(KEY)],
        readiness_cache_s=0,
        chroma_host="127.0.0.1",
        chroma_port=9,
    )
    with TestClient(create_app(settings, bridge)) as client:  # type: ignore[arg-type]
        response = client.get("/ready")
    chroma = response.json()["checks"]["chroma"]
    assert response.status_code == 503
    assert (
        chroma["ok"] is False and chroma["required"] is True and "unreachable" in chroma["detail"]
    )


def test_ready_is_503_when_the_answer_listener_is_not_reading(
    client: TestClient, bridge: ScriptedBridge
) -> None:
    bridge.listener = Probe(False, 0.0, "not reading answers: died of RuntimeError; restarting")
    response = client.get("/ready")

    assert response.status_code == 503
    assert response.json()["checks"]["answer_listener"]["required"] is True


OTHER_KEY = "o" * 32
PUBLISHABLE_KEY = "p" * 32
SHOP = "https://shop.example"
JWT_SECRET = "j" * 32


@pytest.fixture
def keyed_client(bridge: ScriptedBridge) -> Iterator[TestClient]:
    settings = GatewaySettings(  # type: ignore[call-arg]
        _env_file=None,
        api_keys=[SecretStr(KEY)],
        api_key_digests=(
            f"{digest(OTHER_KEY).hex()}=chat,{digest(PUBLISHABLE_KEY).hex()}=chat;publishable={SHOP}"
        ),
        jwt_secret=SecretStr(JWT_SECRET),
    )
    with TestClient(create_app(settings, bridge)) as test_client:  # type: ignore[arg-type]
        yield test_client


def ask(client: TestClient, headers: dict[str, str], **body: object) -> tuple[int, dict[str, Any]]:
    response = client.post("/v1/chat", json={"message": "hi", **body}, headers=headers)
    return response.status_code, response.json()


def test_another_principal_cannot_use_a_conversation(
    keyed_client: TestClient, bridge: ScriptedBridge
) -> None:
    status, _ = ask(keyed_client, {"X-API-Key": KEY}, conversation_id="c-1")
    refused, error = ask(keyed_client, {"X-API-Key": OTHER_KEY}, conversation_id="c-1")
    again, _ = ask(keyed_client, {"X-API-Key": KEY}, conversation_id="c-1")

    assert (status, refused, again) == (200, 404, 200)
    assert error["error"]["code"] == "conversation_not_found" and error["request_id"]
    assert len(bridge.asked) == 2


def test_conversation_token_of_another_principal_is_refused(keyed_client: TestClient) -> None:
    _, started = ask(keyed_client, {"X-API-Key": KEY})
    token = {"X-Conversation-Token": started["conversation_token"]}

    resumed, body = ask(keyed_client, {"X-API-Key": KEY} | token)
    stolen, _ = ask(keyed_client, {"X-API-Key": OTHER_KEY} | token)

    assert resumed == 200 and body["conversation_id"] == started["conversation_id"]
    assert stolen == 404


def test_a_retry_with_the_same_request_id_is_the_same_call_on_any_gateway(
    keyed_client: TestClient, bridge: ScriptedBridge
) -> None:
    retry = {"X-API-Key": KEY, "X-Request-ID": "retry-7"}
    first, answered = ask(keyed_client, retry)
    again, replayed = ask(keyed_client, retry, message="a different message")
    settings = keyed_client.app.state.settings  # type: ignore[attr-defined]
    with TestClient(create_app(settings, bridge)) as other_gateway:  # type: ignore[arg-type]
        elsewhere, from_other = ask(other_gateway, retry)

    assert (first, again, elsewhere) == (200, 200, 200)
    ids = {(body["request_id"], body["conversation_id"]) for body in (answered, replayed)}
    assert ids == {(from_other["request_id"], from_other["conversation_id"])}
    assert "retry-7" not in {answered["request_id"], answered["conversation_id"]}


def test_a_request_id_names_a_call_per_principal_and_per_conversation(
    keyed_client: TestClient,
) -> None:
    _, mine = ask(keyed_client, {"X-API-Key": KEY, "X-Request-ID": "r-1"})
    _, theirs = ask(keyed_client, {"X-API-Key": OTHER_KEY, "X-Request-ID": "r-1"})
    _, elsewhere = ask(
        keyed_client, {"X-API-Key": KEY, "X-Request-ID": "r-1"}, conversation_id="c-9"
    )
    _, unnamed = ask(keyed_client, {"X-API-Key": KEY})
    _, unnamed_again = ask(keyed_client, {"X-API-Key": KEY})

    assert theirs["conversation_id"] != mine["conversation_id"]
    assert len({b["request_id"] for b in (mine, theirs, elsewhere)}) == 3
    assert unnamed["conversation_id"] != unnamed_again["conversation_id"]
    assert unnamed["request_id"] != unnamed_again["request_id"]


def publishable(origin: str | None = SHOP) -> dict[str, str]:
    return {"X-API-Key": PUBLISHABLE_KEY} | ({"Origin": origin} if origin else {})


@pytest.mark.parametrize("origin", [None, "https://evil.example", "http://shop.example"])
def test_publishable_key_is_refused_from_other_origins(
    keyed_client: TestClient, bridge: ScriptedBridge, origin: str | None
) -> None:
    status, body = ask(keyed_client, publishable(origin))
    assert (status, body["error"]["code"]) == (403, "origin_not_allowed") and not bridge.asked


def test_publishable_key_resumes_only_with_its_conversation_token(
    keyed_client: TestClient,
) -> None:
    _, first = ask(keyed_client, publishable())
    _, second = ask(keyed_client, publishable())

    by_id, error = ask(keyed_client, publishable(), conversation_id=first["conversation_id"])
    forged, _ = ask(keyed_client, publishable() | {"X-Conversation-Token": "eyJ.not.a-token"})
    crossed, _ = ask(
        keyed_client,
        publishable() | {"X-Conversation-Token": second["conversation_token"]},
        conversation_id=first["conversation_id"],
    )
    resumed, body = ask(
        keyed_client, publishable() | {"X-Conversation-Token": first["conversation_token"]}
    )

    assert (by_id, error["error"]["code"], forged, crossed) == (
        404,
        "conversation_not_found",
        404,
        404,
    )
    assert resumed == 200 and body["conversation_id"] == first["conversation_id"]


def test_visitors_of_a_page_sending_one_request_id_never_share_a_conversation(
    keyed_client: TestClient,
) -> None:
    named = publishable() | {"X-Request-ID": "1"}
    _, one_visitor = ask(keyed_client, named)
    _, another_visitor = ask(keyed_client, named)
    token = {"X-Conversation-Token": one_visitor["conversation_token"]}
    _, retried = ask(keyed_client, named | token)
    _, retried_again = ask(keyed_client, named | token)

    assert one_visitor["conversation_id"] != another_visitor["conversation_id"]
    assert retried["request_id"] == retried_again["request_id"]


def test_customer_carried_by_the_token_is_verified_and_the_body_cannot_change_it(
    keyed_client: TestClient, bridge: ScriptedBridge
) -> None:
    tokens = TokenService(
        algorithm="HS256", signing_key=JWT_SECRET, verifying_key=JWT_SECRET, ttl_s=600
    )
    customer = Customer(name="Ravi", email="ravi@example.in")
    bearer = tokens.issue("cust-7", frozenset({"chat"}), customer=customer)

    status, _ = ask(
        keyed_client,
        {"Authorization": f"Bearer {bearer}"},
        customer={"email": "attacker@evil.example"},
    )

    [asked] = bridge.asked
    assert status == 200 and asked.customer_verified and asked.principal == "user:cust-7"
    assert asked.customer == Customer(id="cust-7", name="Ravi", email="ravi@example.in")


def test_worker_refusal_of_a_foreign_conversation_is_a_404(
    client: TestClient, bridge: ScriptedBridge
) -> None:
    bridge.failure = ConversationNotOwnedError("ConversationOwnershipError: another owner")
    status, body = ask(client, {"X-API-Key": KEY})
    assert (status, body["error"]["code"]) == (404, "conversation_not_found")


def test_asyncapi_document_is_served_without_credentials(client: TestClient) -> None:
    response = client.get("/asyncapi.json")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == orjson.loads((SCHEMAS_DIR / ASYNCAPI_FILE).read_bytes())
    assert client.post("/asyncapi.json").status_code == 405
