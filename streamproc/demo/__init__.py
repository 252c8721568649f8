"""The main job: publish the sample articles, run a worker until all are processed, report where they went."""
