"""Discrete-event simulation of drivers, queues and chargers (see :mod:`models.simulate.engine`)."""
