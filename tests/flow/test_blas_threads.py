"""Shards run in parallel share the machine's cores: each BLAS call inside gets its share,
not every core (faasflow.blas_threads); in sequence, or alone, they keep them all."""

from __future__ import annotations

import threading
from unittest import mock

import pytest
from threadpoolctl import threadpool_info

from faasflow import Document, Executor, Flow, blas_threads, requests
from faasflow.engine import ModeChooser


def blas_threads_now() -> int:
    return min(info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas")


@pytest.fixture
def original() -> int:
    """The BLAS threads as the process has them (one per core unless told otherwise)."""
    threads = blas_threads_now()
    if threads < 2:
        pytest.skip("BLAS runs one thread here: a share of the cores cannot be seen")
    return threads


def share(calls: int, original: int) -> int:
    return min(max(blas_threads.cores() // calls, 1), original)


def test_each_call_in_a_parallel_section_gets_its_share_and_the_setting_comes_back(original):
    with blas_threads.shared_by(original):
        assert blas_threads_now() == share(original, original) < original
    assert blas_threads_now() == original
    with blas_threads.shared_by(4 * blas_threads.cores()):  # more calls than cores: one thread each, never none
        assert blas_threads_now() == 1
    assert blas_threads_now() == original


def test_overlapping_sections_share_the_first_ones_limit_which_it_gives_back_when_it_leaves(original):
    first_in, second_in, first_out, second_out = (threading.Event() for _ in range(4))
    seen = {}

    def second() -> None:
        first_in.wait()
        with blas_threads.shared_by(2):
            seen["both inside"] = blas_threads_now()
            second_in.set()
            first_out.wait()
            seen["after the first left"] = blas_threads_now()
        second_out.set()

    thread = threading.Thread(target=second)
    thread.start()
    with blas_threads.shared_by(original):
        first_in.set()
        second_in.wait()
    first_out.set()
    second_out.wait()
    thread.join()
    assert seen["both inside"] == share(original, original)  # the first one's share
    assert seen["after the first left"] == original  # given back by the thread that set it
    assert blas_threads_now() == original
    with blas_threads.shared_by(original):  # and the next one sets it again
        assert blas_threads_now() == share(original, original)
    assert blas_threads_now() == original


class Records(Executor):
    @requests
    def run(self, docs, **kwargs):
        for doc in docs:
            doc.tags["blas"] = blas_threads_now()


@pytest.mark.parametrize("parallel", [True, False])
def test_the_engine_shares_the_cores_only_while_shards_run_in_parallel(original, parallel):
    shards = original
    with mock.patch.object(ModeChooser, "choose", return_value=parallel):
        with Flow().add(uses=Records, name="r", shards=shards, polling="ALL") as flow:
            answer = flow.post("/x", Document())
    assert answer[0].tags["blas"] == (share(shards, original) if parallel else original)
    assert blas_threads_now() == original


def test_a_shard_that_fails_in_parallel_still_gives_the_cores_back(original):
    class Fails(Executor):
        @requests
        def run(self, docs, **kwargs):
            raise ValueError("no")

    with mock.patch.object(ModeChooser, "choose", return_value=True):
        with Flow().add(uses=Fails, name="f", shards=3, polling="ALL") as flow:
            with pytest.raises(Exception, match="no"):
                flow.post("/x", Document())
    assert blas_threads_now() == original
