"""Incoming records: the article schema and the validation that turns raw Kafka bytes into articles."""
