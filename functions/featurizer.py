"""Featurizer: a feature-hashing embedding of each document's text (no model needed)."""

from faasflow import Document, DocumentArray, Executor, requests


class Featurizer(Executor):
    """Embeds every document on every endpoint, so queries and indexed docs are comparable."""

    @requests
    def featurize(self, docs: DocumentArray, **kwargs) -> None:
        docs.apply(Document.embed_feature_hashing)
