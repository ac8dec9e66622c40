"""The one exception the rules raise.

``WorkError`` subclasses ``ValueError`` so that callers may treat it as plain bad input; its message
is written for the client (it ends up in ``{"error": ...}`` bodies), so it names what is wrong.
"""


class WorkError(ValueError):
    """Input that the Atto work rules refuse (bad hex, unknown network, pre-2024 timestamp, ...)."""
