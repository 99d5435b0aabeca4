"""Configuration of ``techgear helpdesk``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from helpdesk.targets import STAND_IN_EMAIL, Freshdesk, Requesters, Target, Zendesk
from runtime.settings import RuntimeSettings


class HelpdeskSettings(RuntimeSettings):
    """Zendesk: ``ZENDESK_URL`` (https://SUBDOMAIN.zendesk.com), ``ZENDESK_EMAIL`` and
    ``ZENDESK_API_TOKEN`` of an agent. Freshdesk: ``FRESHDESK_URL``
    (https://DOMAIN.freshdesk.com) and ``FRESHDESK_API_KEY``. Redis keeps which escalation
    became which ticket; give the bridge a durable Redis in production (AOF, or at least
    RDB snapshots): losing it mid-write can make a second ticket or note."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

    redis_url: str | None = "redis://127.0.0.1:6379/0"
    """Required: which escalation became which ticket (``runtime.redis`` has TLS and ACL)."""
    zendesk_url: str | None = None
    zendesk_email: str | None = None
    zendesk_api_token: SecretStr | None = None
    freshdesk_url: str | None = None
    freshdesk_api_key: SecretStr | None = None
    helpdesk_backoff_s: float = 1.0
    freshdesk_search_lag_s: float = 300.0
    """How long a new Freshdesk ticket may stay missing from Freshdesk's search (documented
    as a few minutes). After a try that may have created a ticket but was not recorded, the
    bridge waits up to this long for the search to show it before creating it again."""
    helpdesk_tickets_per_principal_per_hour: int = Field(default=20, ge=0)
    """New tickets one principal (the caller that owns the conversation) may open in a
    sliding hour; more are dead-lettered with reason ``rate_limited``, for an operator to
    replay. Follow-ups (notes) are not limited. 0: no limit."""
    helpdesk_trust_unverified_requester: bool = False
    """Open tickets for a requester the caller merely asserted (the helpdesk then mails that
    address). Off: such tickets are opened for ``HELPDESK_UNVERIFIED_REQUESTER_EMAIL``."""
    helpdesk_unverified_requester_email: str = Field(
        default=STAND_IN_EMAIL, pattern=r"^[^@\s]+@[^@\s]+$"
    )
    """The stand-in requester of tickets whose requester is unverified: an address that
    reaches nobody (``.invalid``) or a mailbox of the company's own."""
    conversation_ttl_s: int = Field(default=7 * 24 * 3600, ge=3600)
    """How long Redis remembers a ticket's conversation (for the gateways' webhooks, a
    Freshdesk one names only the ticket) after the ticket's latest escalation; the same
    ``CONVERSATION_TTL_S`` as the gateways' and the workers'."""
    helpdesk_metrics_host: str = "127.0.0.1"
    helpdesk_metrics_port: int = Field(default=9110, ge=0, le=65535)
    """Prometheus endpoint of the bridge; 0 turns it off."""

    @property
    def requesters(self) -> Requesters:
        return Requesters(
            trust_unverified=self.helpdesk_trust_unverified_requester,
            stand_in_email=self.helpdesk_unverified_requester_email,
        )

    def target(self, name: Literal["zendesk", "freshdesk"]) -> tuple[Target, str]:
        """The target and its base URL; a missing setting is a clear error."""
        if name == "zendesk":
            if not (self.zendesk_url and self.zendesk_email and self.zendesk_api_token):
                raise ValueError("zendesk needs ZENDESK_URL, ZENDESK_EMAIL and ZENDESK_API_TOKEN")
            return Zendesk(
                self.zendesk_email, self.zendesk_api_token.get_secret_value(), self.requesters
            ), self.zendesk_url
        if not (self.freshdesk_url and self.freshdesk_api_key):
            raise ValueError("freshdesk needs FRESHDESK_URL and FRESHDESK_API_KEY")
        api_key = self.freshdesk_api_key.get_secret_value()
        lag_s = self.freshdesk_search_lag_s
        freshdesk = Freshdesk(api_key, ticket_search_lag_s=lag_s, requesters=self.requesters)
        return freshdesk, self.freshdesk_url
