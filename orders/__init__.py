"""The Beckn BPP: protocol edge (signing, registry, validation, outbox) and the order domain.

Layers point one way: ``api`` (FastAPI routes) → ``protocol`` (one pipeline for every action)
→ ``handlers`` (wire ↔ domain through ``beckn_v1``) → ``domain`` (typed, wire-agnostic).
"""
