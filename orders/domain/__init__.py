"""The order domain: typed, wire-agnostic (no Beckn dicts here; see ``orders.beckn_v1``)."""
