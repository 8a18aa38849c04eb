"""Index and query with sharding: the reference app's Flow, run in-process."""
