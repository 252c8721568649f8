"""Runtime package: Faust worker, inference, sinks, review queue, local stack and CLI."""
