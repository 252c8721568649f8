"""Model building, training, active learning and evaluation for streamproc's topic and sentiment models."""
