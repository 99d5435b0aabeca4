"""Scale out on the real broker: several workers share the partitions, take over from a
killed one with the conversation memory, grow and shrink under load; a killed gateway's
callers retry on the other one.

One cluster (tests/integration/scale_cluster.py) serves the module, in the order of its
tests; each test first brings the cluster to the shape it needs. The session's worker is
stopped meanwhile (it would be one more member of the group). ``TABLE_STANDBY_REPLICAS``
in the environment reaches the workers (default 1).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from runtime.kafka import KafkaConnection
from schemas import new_id
from schemas.topics import REQUESTS
from streams.embeddings import MODEL_NAMES
from streams.settings import WorkerSettings
from techgear.records import end_offsets
from techgear.services import LocalChroma
from tests.conftest import GATEWAY_PORT, REPO, WorkerProcess
from tests.integration.conftest import Marks, wait_until
from tests.integration.scale_cluster import (
    ESCALATION,
    QUESTIONS,
    Exchange,
    PacedLoad,
    ScaleCluster,
    ask,
    conversation_on,
    partition_of,
    published_since,
    topic_marks,
)

pytestmark = [pytest.mark.integration, pytest.mark.scale, pytest.mark.timeout(600)]

RATE_PER_S = 3.0


@pytest.fixture(scope="module")
def cluster(
    worker: WorkerProcess,
    worker_env: dict[str, str],
    gateway_env: dict[str, str],
    local_chroma: LocalChroma,
) -> Iterator[ScaleCluster]:
    # The test server's data outlives a run: a collection per embedding model, so one built
    # by the other model (EMBEDDING_MODEL) is never met, which a server's ingest refuses.
    model = MODEL_NAMES[WorkerSettings(_env_file=None).embedding_model]  # type: ignore[call-arg]
    collection = f"techgear-kb-{model}"
    local_chroma.ingest(REPO / "data" / "knowledge", collection)
    chroma = local_chroma.client_env() | {"CHROMA_COLLECTION": collection}
    # Without REDIS_URL the workers keep no answer cache: every question reaches them.
    workers_env = {k: v for k, v in worker_env.items() if k not in {"CHROMA_PATH", "REDIS_URL"}}
    scale = ScaleCluster(
        workers_env | chroma,
        gateway_env | chroma | {"REQUEST_TIMEOUT_S": "90"},
        GATEWAY_PORT + 30,
    )
    worker.stop()
    try:
        yield scale
    finally:
        scale.stop()
        worker.restart()


@pytest.fixture(scope="module")
def partitions(cluster: ScaleCluster) -> int:
    return cluster.group().partitions


def ensure_shape(cluster: ScaleCluster, workers: int, gateways: int) -> None:
    while len(cluster.workers) < workers:
        cluster.add_worker()
    while len(cluster.workers) > workers:
        cluster.stop_worker(cluster.workers[-1])
    while len(cluster.gateways) < gateways:
        cluster.add_gateway()


def assert_each_processed_once(
    cluster: ScaleCluster, marks: Marks, exchanges: list[Exchange]
) -> tuple[int, int]:
    """Every exchange answered 200 and processed once (its answers under one transcript
    ``seq``), one escalation (``event_id``) for each escalation asked and none for the
    others; returns (questions, escalations)."""
    published = published_since(cluster.bootstrap, marks, (e.request_id for e in exchanges))
    failed = [(e.status, e.error, e.body) for e in exchanges if e.status != 200]
    assert not failed
    assert {e.request_id: len(published.answers[e.request_id]) for e in exchanges} == {
        e.request_id: 1 for e in exchanges
    }
    asked_for_person = {e.request_id for e in exchanges if e.message == ESCALATION}
    assert {rid: len(ids) for rid, ids in published.escalations.items()} == dict.fromkeys(
        asked_for_person, 1
    )
    return len(exchanges), len(asked_for_person)


async def answered(load: PacedLoad, count: int, after: float = 0.0) -> None:
    def enough() -> bool:
        done = [e for e in load.exchanges if (e.answered_at or 0) > after]
        return len(done) >= count

    async def check() -> bool:
        return enough()

    await wait_until(check, f"{count} answers", timeout_s=120)


async def test_three_workers_share_the_partitions_and_two_gateways_answer(
    cluster: ScaleCluster, partitions: int
) -> None:
    ensure_shape(cluster, workers=3, gateways=2)
    group = cluster.group()
    marks = topic_marks(cluster.bootstrap)

    async with httpx.AsyncClient(timeout=90) as client:
        exchanges = await asyncio.gather(
            *(
                ask(client, Exchange(gateway, conversation_on(p, partitions, "share"), question))
                for p in range(partitions)
                for gateway, question in zip(
                    cluster.gateways, ("How do I return a product?", ESCALATION), strict=True
                )
            )
        )

    assert len(group.members) == 3 and all(len(ps) >= 1 for ps in group.members.values())
    assert sorted(p for ps in group.members.values() for p in ps) == list(range(partitions))
    assert assert_each_processed_once(cluster, marks, list(exchanges)) == (
        2 * partitions,
        partitions,
    )


async def test_a_killed_worker_is_replaced_by_the_survivors_with_its_conversations(
    cluster: ScaleCluster, partitions: int
) -> None:
    ensure_shape(cluster, workers=3, gateways=2)
    victim = cluster.workers[0]
    moved = cluster.group().members[victim.member_id]
    gateway = next(iter(cluster.gateways))
    async with httpx.AsyncClient(timeout=90) as client:
        opening = await ask(
            client,
            Exchange(
                gateway,
                conversation_on(min(moved), partitions, "fitband"),
                "Tell me about the FitBand 3",
            ),
        )
    marks = topic_marks(cluster.bootstrap)
    load = PacedLoad(list(cluster.gateways), RATE_PER_S)
    running = asyncio.create_task(load.run())
    await answered(load, 5)

    killed_at = time.time()
    await asyncio.to_thread(cluster.kill_worker, victim)
    stable_at = time.time()
    async with httpx.AsyncClient(timeout=90) as client:
        follow_up = await ask(
            client, Exchange(gateway, opening.conversation_id, "how much does it cost?")
        )
    await answered(load, 5, after=stable_at)
    load.stop()
    exchanges = await running

    published = published_since(cluster.bootstrap, marks, (e.request_id for e in exchanges))
    takeover = min(
        at
        for e in exchanges
        if partition_of(e.conversation_id, partitions) in moved
        and (at := published.first_answer_at.get(e.request_id, 0.0)) > killed_at
    )
    print(
        f"\nkill -> group stable {stable_at - killed_at:.1f}s, "
        f"-> first answer from a new owner {takeover - killed_at:.1f}s; "
        f"{len(exchanges)} questions"
    )
    assert opening.status == 200 and follow_up.status == 200
    assert {s["doc_id"] for s in follow_up.body["sources"]} & {"product-fitband-3"}  # type: ignore[attr-defined]
    questions, escalations = assert_each_processed_once(cluster, marks, exchanges)
    print(f"questions {questions}, escalations {escalations}")


async def test_workers_scale_from_one_to_three_and_back_under_load(
    cluster: ScaleCluster,
) -> None:
    ensure_shape(cluster, workers=1, gateways=2)
    marks = topic_marks(cluster.bootstrap)
    load = PacedLoad(list(cluster.gateways), RATE_PER_S)
    running = asyncio.create_task(load.run())
    await answered(load, 3)

    started = time.monotonic()
    await asyncio.to_thread(ensure_shape, cluster, 3, 2)
    grown = time.monotonic()
    await answered(load, 3, after=time.time())
    shrinking = time.monotonic()
    await asyncio.to_thread(ensure_shape, cluster, 1, 2)
    shrunk = time.monotonic()
    await answered(load, 3, after=time.time())
    load.stop()
    exchanges = await running

    questions, escalations = assert_each_processed_once(cluster, marks, exchanges)
    print(
        f"\n1 -> 3 workers {grown - started:.1f}s, 3 -> 1 {shrunk - shrinking:.1f}s; "
        f"questions {questions}, escalations {escalations}"
    )
    assert len(cluster.group().members) == 1


@contextlib.contextmanager
def held_still(workers: list[WorkerProcess]) -> Iterator[None]:
    """The workers stopped (SIGSTOP) for less than their group session timeout, so the
    group does not rebalance; continued on exit."""
    for worker in workers:
        os.kill(worker.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for worker in workers:
            os.kill(worker.process.pid, signal.SIGCONT)


async def requests_published(bootstrap: str, since: dict[int, int], count: int) -> None:
    kafka = KafkaConnection(bootstrap)

    async def published() -> bool:
        ends = await end_offsets(kafka, REQUESTS)
        return sum(ends.values()) - sum(since.values()) >= count

    await wait_until(published, f"{count} requests published", timeout_s=5)


async def test_a_killed_gateways_callers_retry_on_the_other_and_get_one_answer(
    cluster: ScaleCluster,
) -> None:
    ensure_shape(cluster, workers=2, gateways=2)
    doomed, survivor = list(cluster.gateways)
    marks = topic_marks(cluster.bootstrap)
    requests_from = await end_offsets(KafkaConnection(cluster.bootstrap), REQUESTS)

    async with httpx.AsyncClient(timeout=90) as client:
        with held_still(cluster.workers):
            calls = {
                gateway: [
                    asyncio.create_task(
                        ask(client, Exchange(gateway, f"retry-{new_id()}", question))
                    )
                    for question in QUESTIONS[:3]
                ]
                for gateway in (doomed, survivor)
            }
            await requests_published(cluster.bootstrap, requests_from, 6)
            cluster.kill_gateway(doomed)
            dropped = await asyncio.gather(*calls[doomed])
        retried = await asyncio.gather(
            *(
                ask(client, replace(e, gateway=survivor, status=None, error=None, body={}))
                for e in dropped
            )
        )
        unaffected = await asyncio.gather(*calls[survivor])

    assert [(e.status, e.error is not None) for e in dropped] == [(None, True)] * 3
    assert assert_each_processed_once(cluster, marks, [*retried, *unaffected]) == (6, 0)
