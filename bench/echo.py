"""The HTTP benchmark's executor: returns the docs it gets, so the benchmark measures the
path a request takes, not the work done on it."""

from faasflow import DocumentArray, Executor, requests

ENDPOINT = "/index"  # an endpoint Jina's HTTP gateway also routes, for a like-for-like comparison


class Echo(Executor):
    @requests(on=ENDPOINT)
    def echo(self, docs: DocumentArray, **kwargs) -> DocumentArray:
        return docs
