"""The benchmark scripts, a regular package: opacus (a dependency) installs a top-level
``benchmarks`` package of its own, which would otherwise shadow this folder."""
