"""chargegrid: back office of an EV charge point operator (Beckn BPP, OCPP CSMS, stream, lake)."""

__version__ = "0.1.0"
