"""Split a batch of shoppers across threads: the kernels release the GIL and touch only
their own rows, so halves of a batch run truly in parallel and give the serial result."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any


class ThreadSplitter:
    """Runs ``kernel(start, stop, *args)`` on contiguous chunks of ``range(n)`` in threads."""

    def __init__(self, n_shoppers: int, min_shoppers: int, n_threads: int | None = None) -> None:
        self.n_threads = n_threads or len(os.sched_getaffinity(0))
        self.enabled = self.n_threads > 1 and n_shoppers >= min_shoppers
        self._pool: ThreadPoolExecutor | None = None

    def run(self, kernel: Callable[..., None], n: int, args: tuple[Any, ...]) -> None:
        """The last chunk runs in the calling thread, the others in the pool meanwhile (a
        hand-off less per call)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max(self.n_threads - 1, 1), thread_name_prefix="recenv")
        bounds = [n * part // self.n_threads for part in range(self.n_threads + 1)]
        chunks = [(start, stop) for start, stop in itertools.pairwise(bounds) if stop > start]
        futures = [self._pool.submit(kernel, start, stop, *args) for start, stop in chunks[:-1]]
        try:
            kernel(*chunks[-1], *args)
        finally:  # never return (or raise) while a pool thread still writes the arrays
            for future in futures:
                future.result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
