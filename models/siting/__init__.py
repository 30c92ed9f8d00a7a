"""Siting: where to put charge points.

p-median, maximal covering and capacitated p-median over demand points and candidate sites, with
distances from haversine x detour factor or from a road graph. The fast path is a Numba greedy +
fast vertex substitution (Teitz-Bart with nearest/second-nearest caching) + variable neighbourhood
search, multi-started; an exact MILP (HiGHS via SciPy) is the oracle for small instances.
"""
