"""Who wants what: the registry of projects, integrations, users, credentials and workflows. Depends on verifiers, pydantic, redis and cryptography; never on the router."""
