"""Active learning measured on a simulated stream: strategies, frozen-feature cache, the `al-sim` study."""
