"""Stored event → trigger jobs: which (credential, workflow) pairs each source's events fire, and the
routing worker that writes them."""
