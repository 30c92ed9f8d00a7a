"""Base of every user-facing error. The CLI prints its message (naming file/row/field) and exits 2."""


class ChargegridError(Exception):
    """A failure the user can act on; the message says what and where."""
