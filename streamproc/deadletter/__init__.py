"""The dead-letter topic read back: list and show its letters, replay their originals to the raw topic."""
