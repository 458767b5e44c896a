"""One process's wiring: settings turned into Redis, clients, stores and supervised workers, built
once for ``serve`` and ``worker``; health and the embedded Redis."""
