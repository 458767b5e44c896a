"""Who wants what: projects, integrations, connected users, credentials, workflows and activations.

Pydantic models, a Redis-backed registry with encrypted secrets, and an in-process snapshot for the
hot path. Depends on verifiers, pydantic, redis and cryptography; never on the router.
"""
