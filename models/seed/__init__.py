"""The project's own small labeled seed set, used when ../shared/data is absent (models trained on it are weak)."""
