"""One module per ``atto-work`` subcommand."""
