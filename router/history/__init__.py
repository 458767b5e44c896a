"""What happened to every stored event: write-time indexes, filtered queries, retention of the
indexes, and replay."""
