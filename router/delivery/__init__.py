"""Trigger jobs → signed POSTs to HTTP targets: attempts, retry policy, per-target limits, outcomes,
and the runner's client."""
