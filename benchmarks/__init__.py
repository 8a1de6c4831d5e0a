"""Speed and quality scripts (run, never imported by tests except their helpers). A regular
package, so a third-party top-level ``benchmarks`` (torchrl ships one) cannot shadow it."""
