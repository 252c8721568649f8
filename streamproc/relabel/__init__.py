"""Relabel stored articles onto the promoted model: the scan that queues work items (`streamproc relabel`), the
worker side that classifies and updates them, and the summary of what changed."""
