"""Model loading and batched inference: probabilities and uncertainty per task."""
