"""Shipped scenario data: env presets (``env/*.yaml``, a Hydra group) and calibrations (JSON).

Installed with the package, so ``make_config("default")`` and Hydra's ``env=default`` (through
``hydra.searchpath: pkg://recenv.presets`` in ``conf/config.yaml``) read the same files.
"""
