"""Benchmarks of the running pipeline (`streamproc bench pipeline`, `streamproc bench cpu-path`)."""
