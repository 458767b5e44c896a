"""Benchmarks of hookrouter, each figure next to a baseline measured in the same run: ``python -m bench``."""
