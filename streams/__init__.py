"""The stream workers: Faust agents that answer support.requests; live after Kafka."""
