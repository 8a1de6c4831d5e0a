"""The benchmark scripts (run as ``python benchmarks/<name>.py``) and their shared helpers.

A regular package, not a namespace one, because opacus 1.6.0's wheel installs a top-level
``benchmarks`` package into site-packages, and a regular package anywhere on ``sys.path``
wins over a namespace package: without this file ``from benchmarks.timing import ...`` and
``from benchmarks import readme_figures`` would import opacus's folder instead.
"""
