"""Where processed articles go: Elasticsearch, the Redis review queue, the dead-letter topic."""
