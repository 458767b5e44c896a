"""Where events and jobs live: the Redis client, the stream store, consumer-group reading and the name of
every key."""
