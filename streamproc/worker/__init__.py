"""The Faust worker: consume `news.raw` in micro-batches, classify, write the sinks, then acknowledge."""
