"""Where events and jobs live: the Redis client, the stream store, consumer-group reading, the typed stream
entries and their ids, and the name of every key."""
