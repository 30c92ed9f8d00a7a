"""Numba kernels: pure functions on arrays, each with a plain-Python reference next to it."""
