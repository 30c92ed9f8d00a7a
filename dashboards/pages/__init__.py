"""Dashboard pages; each module exposes ``register(app, context)``."""
