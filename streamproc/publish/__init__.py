"""Send article files (JSONL or CSV) to the `news.raw` topic."""
