"""hookrouter: the receiver, the store, the workers and the admin API."""
