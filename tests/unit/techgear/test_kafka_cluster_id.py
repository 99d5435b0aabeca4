from __future__ import annotations

import uuid

import pytest

from techgear import services


def test_cluster_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(bytes=b"\x10" * 16)])
    monkeypatch.setattr(services.uuid, "uuid4", lambda: next(drawn))

    cluster_id = services._kafka_cluster_id()

    assert cluster_id == "EBAQEBAQEBAQEBAQEBAQEA" and len(cluster_id) == 22
