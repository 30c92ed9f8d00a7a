"""Base of every user-facing error; the CLI prints its message and exits 2."""


class ChargegridError(Exception):
    """A failure the user can act on; the message says what and where."""
