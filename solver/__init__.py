"""The worker server: HTTP API, device pool and search backends."""
