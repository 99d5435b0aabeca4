"""The HTTP/WebSocket gateway: the only door into the system; lives before Kafka."""
