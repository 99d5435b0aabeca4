"""Scopes a credential can carry."""

CHAT = "chat"
"""Ask questions over HTTP and WebSocket."""
ESCALATIONS_READ = "escalations:read"
"""Read escalations through the gateway."""
ADMIN = "admin"
"""Metrics and administrative endpoints."""
AGENT = "agent"
"""Act as a person of the support team: write to any conversation, hand it back to the
bot, read any conversation's messages (an agent console or a custom helpdesk)."""

ALL = frozenset({CHAT, ESCALATIONS_READ, ADMIN, AGENT})
