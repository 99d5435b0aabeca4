"""Scopes a credential can carry."""

CHAT = "chat"
"""Ask questions over HTTP and WebSocket."""
ESCALATIONS_READ = "escalations:read"
"""Read escalations through the gateway."""
ADMIN = "admin"
"""Metrics and administrative endpoints."""

ALL = frozenset({CHAT, ESCALATIONS_READ, ADMIN})
