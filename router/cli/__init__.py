"""The ``hookrouter`` command: serve, worker, apply, events and replay."""
