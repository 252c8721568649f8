"""How good the labels are: estimates from the audit sample, and the label mix of the stream (drift)."""
