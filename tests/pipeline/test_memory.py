"""The pipeline process keeps freed memory for the next batch (:mod:`pipeline.memory`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.memory import keep_freed_memory

ROOT = Path(__file__).resolve().parents[2]
# A read's worth of columnar records (1,000 x 30 kB) allocated in a new thread and freed, three
# times to settle, then three times counted: what the source's read-ahead thread does per batch.
_BATCHES = """
import resource, sys, threading
sys.path.insert(0, {root!r})
if {tune}:
    from pipeline.memory import keep_freed_memory
    assert keep_freed_memory()
def batch():
    parts = [bytes(30_000) for _ in range(1000)]
    del parts
def run():
    for _ in range(3):
        t = threading.Thread(target=batch)
        t.start()
        t.join()
run()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
run()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(tune: bool) -> int:
    code = _BATCHES.format(root=str(ROOT), tune=tune)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(done.stdout)


def test_batches_reuse_freed_memory_instead_of_faulting_it_in_again() -> None:
    if not keep_freed_memory():
        pytest.skip("the C library has no mallopt (not glibc)")
    untuned = _faults(tune=False)
    if untuned < 3 * 1000 * 30_000 // 4096 // 4:
        pytest.skip(f"this C library already keeps freed memory ({untuned} page faults)")
    tuned = _faults(tune=True)
    assert tuned < untuned / 20, (tuned, untuned)
