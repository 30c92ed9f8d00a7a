"""When to charge: the cheapest plan, the cheapest window, an availability-aware plan, and
suggested cheaper start times for a quote (see :mod:`models.advise.plan`)."""
