"""Semantic search with sharding: ONNX sentence embeddings in a durable, sharded vector index."""
