"""Failure events for observability tools: the events, their producers, the fan-out to destinations
and the delivery in each vendor's shape."""
