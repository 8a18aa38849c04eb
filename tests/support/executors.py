"""Small executors several test modules share."""

from faasflow import Executor, requests


class Append(Executor):
    """Appends its name to each doc's text: shows the path a doc took."""

    @requests
    def run(self, docs, **kwargs):
        for d in docs:
            d.text = (d.text or "") + f"[{self.runtime_args.name}]"
