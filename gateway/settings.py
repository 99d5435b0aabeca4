"""Configuration of a gateway process, read from the environment and ``.env``."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class GatewaySettings(BaseSettings):
    """Every knob of ``techgear gateway``.

    Behind a load balancer, set ``REQUEST_TIMEOUT_S`` below the balancer's own timeout so
    callers get our 504 with a ``request_id`` rather than the balancer's anonymous one.
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    """Comma-separated keys accepted in ``X-API-Key``; several at once allow rotation."""
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_replication_factor: int = Field(default=1, ge=1)
    redis_url: str | None = None
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(default=8000, ge=1, le=65535)
    request_timeout_s: float = Field(default=30.0, gt=0)
    """How long a caller waits for the worker's answer before a 504."""
    max_body_bytes: int = Field(default=16_384, ge=1024)
    readiness_cache_s: float = Field(default=2.0, ge=0)
    """Readiness probes hit Kafka at most this often; Kubernetes probes every few seconds."""
    log_level: str = "INFO"

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value
