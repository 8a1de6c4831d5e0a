"""Numba's on-disk cache for recenv's kernels, invalidated by any change to the package.

Numba stamps a cached kernel with its own file only, but the step kernel inlines functions
from ``choice``, ``funnel``, ``dynamics`` and ``streams``: editing one of those would keep
serving a stale compiled step. This locator (used for recenv's files only) stamps every
kernel with a hash of all recenv modules instead. Imported first by ``recenv/__init__``.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from numba.core import caching

PACKAGE_DIR = Path(__file__).resolve().parent


@functools.lru_cache(maxsize=1)
def package_stamp() -> str:
    """SHA-256 of the source of every module in the package."""
    digest = hashlib.sha256()
    for module in sorted(PACKAGE_DIR.glob("*.py")):
        digest.update(module.name.encode())
        digest.update(module.read_bytes())
    return digest.hexdigest()


class PackageStampedLocator(caching.InTreeCacheLocator):
    """``__pycache__`` locator whose freshness stamp covers the whole package."""

    def get_source_stamp(self) -> str:
        return package_stamp()

    @classmethod
    def from_function(cls, py_func, py_file):
        if Path(py_file).resolve().parent != PACKAGE_DIR:
            return None
        return super().from_function(py_func, py_file)


_locators = getattr(caching, "CacheImpl", getattr(caching, "_CacheImpl", None))._locator_classes
if PackageStampedLocator not in _locators:
    _locators.insert(0, PackageStampedLocator)
