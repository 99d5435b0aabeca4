"""The settings every process shares, read from the environment and ``.env``: how to reach
Kafka (``runtime.kafka``) and Redis (``runtime.redis``), how to log (``runtime.logs``) and
the workers' consumer group.
Each process's own settings class extends :class:`RuntimeSettings`."""

from __future__ import annotations

from runtime.kafka import KafkaSettings
from runtime.logs import LoggingSettings
from runtime.redis import RedisSettings

WORKER_GROUP_ID = "techgear-worker"
TRANSCRIPT_GROUP_ID = "techgear-gateway-transcripts"
"""The gateways' consumer group that keeps each conversation's transcript (in Redis)."""


class RuntimeSettings(KafkaSettings, RedisSettings, LoggingSettings):
    worker_app_id: str = WORKER_GROUP_ID
    """The workers' Faust app id: their consumer group (which the gateways' ``/ready``
    checks for members) and the prefix of their changelog topics. One value for every
    process of a deployment."""
