"""Speed and quality scripts. A regular package (not a namespace one): opacus 1.6 and torchrl
0.14 install a top-level ``benchmarks`` package into site-packages, which would otherwise
shadow this folder in ``from benchmarks import ...``."""
