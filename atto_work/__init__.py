"""The ``atto-work`` command: one entry point for every service and tool."""
