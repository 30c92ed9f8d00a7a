"""Keep freed memory in the pipeline's process instead of handing it back to the kernel after
every batch (glibc ``malloc``).

A batch of 200,000 readings passes through buffers of tens of MB: the log read (a thousand
columnar records of ~30 kB each), decoded columns, NumPy gathers. With glibc's defaults, blocks
over 128 kB come from fresh ``mmap`` regions, a thread's arena gives its free top back, and an
emptied heap is unmapped, so the next batch faults the same memory in again and the kernel zeroes
every page of it. On the pipeline bench that was ~130,000 page faults per 1.2M readings, and
zeroing pages was ~10 % of all CPU samples (``perf``). Three ``mallopt`` settings stop it:

* ``M_MMAP_THRESHOLD`` = 32 MiB (glibc's maximum on 64-bit): a batch's blocks come from the heap;
* ``M_TRIM_THRESHOLD`` = 512 MiB: a heap's free top stays mapped for the next batch;
* ``M_ARENA_MAX`` = 1: threads started later (the source's read-ahead threads) share the main
  arena instead of each growing and unmapping heaps of its own (Python threads take the
  interpreter lock anyway; polars and Arrow use allocators of their own).

Measured on the bench's 1.2M-reading drain (15 drains each way, alternated, medians): page faults
130,000 -> 80,000, process CPU 1.60 -> 1.54 s, drain 0.96 -> 0.90 s. The faults left are polars'
and Arrow's own allocators (polars' string import, Arrow's mimalloc).

The cost is memory: up to 512 MiB freed by a batch stays in the process for the next one. The
test (``tests/pipeline/test_memory.py``): allocating a read's worth of 30 kB records in a new
thread, three times over, faults ~21,000 pages without these settings and under 100 with them.
Elsewhere than glibc there is no ``mallopt``, and nothing is changed.
"""

from __future__ import annotations

import ctypes
import functools

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
SETTINGS = ((M_MMAP_THRESHOLD, 32 << 20), (M_TRIM_THRESHOLD, 512 << 20), (M_ARENA_MAX, 1))


@functools.cache
def keep_freed_memory() -> bool:
    """Apply :data:`SETTINGS` once per process; False where the C library has no ``mallopt``
    or refuses one of them."""
    try:
        libc = ctypes.CDLL(None)  # the process's own C library
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return all(mallopt(option, value) == 1 for option, value in SETTINGS)
