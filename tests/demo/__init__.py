"""The sample articles and the main job (`streamproc demo`)."""
