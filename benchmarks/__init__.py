"""Benchmark scripts (run as files: ``python benchmarks/<name>.py``); a regular package so that
an installed top-level ``benchmarks`` (torchrl ships one) cannot shadow it."""
