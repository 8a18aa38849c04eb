"""Shards run in parallel share the machine's cores: each BLAS call inside gets its share,
not every core (faasflow.blas_threads); in sequence, or alone, they keep them all."""

from __future__ import annotations

import threading
from unittest import mock

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from faasflow import Document, Executor, Flow, FlowError, blas_threads, requests
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


MANY = 4 * blas_threads.cores()  # more calls at once than cores: one BLAS thread each


def test_each_call_in_a_parallel_section_gets_its_share_and_the_setting_comes_back(original):
    with blas_threads.shared_by(MANY):
        assert blas_threads_now() == 1
    assert blas_threads_now() == original
    with pytest.raises(ValueError, match="inside the section"):
        with blas_threads.shared_by(MANY):
            raise ValueError("inside the section")
    assert blas_threads_now() == original


def test_a_share_never_raises_the_threads_a_process_was_given(original):
    with threadpool_limits(limits=1, user_api="blas"):
        with blas_threads.shared_by(1):  # a share of every core: more than this process allows
            assert blas_threads_now() == 1
        assert blas_threads_now() == 1
    assert blas_threads_now() == original


def test_overlapping_sections_share_the_first_ones_limit_which_it_gives_back_when_it_leaves(original):
    first_in, second_in, first_out, second_out = (threading.Event() for _ in range(4))
    seen = {}

    def second() -> None:
        first_in.wait()
        with blas_threads.shared_by(MANY):
            seen["both inside"] = blas_threads_now()
            second_in.set()
            first_out.wait()
            seen["after the first left"] = blas_threads_now()
        second_out.set()

    thread = threading.Thread(target=second)
    thread.start()
    with blas_threads.shared_by(MANY):
        first_in.set()
        second_in.wait()
    first_out.set()
    second_out.wait()
    thread.join()
    assert seen["both inside"] == 1  # the first one's share
    assert seen["after the first left"] == original  # given back by the thread that set it
    assert blas_threads_now() == original


def test_the_setting_is_free_for_any_thread_after_a_section(original):
    with blas_threads.shared_by(MANY):
        pass
    seen = {}

    def users_own_limit() -> None:  # a user's code on another thread, as scikit-learn's would
        with threadpool_limits(limits=1, user_api="blas"):
            seen["inside"] = blas_threads_now()

    thread = threading.Thread(target=users_own_limit)
    thread.start()
    thread.join()
    assert seen["inside"] == 1
    assert blas_threads_now() == original


class Records(Executor):
    @requests
    def run(self, docs, **kwargs):
        for doc in docs:
            doc.tags["blas"] = blas_threads_now()


@pytest.mark.parametrize("parallel", [True, False])
def test_the_engine_shares_the_cores_only_while_shards_run_in_parallel(original, parallel):
    shards = original  # the cores split between them
    share = max(blas_threads.cores() // shards, 1)
    with mock.patch.object(ModeChooser, "choose", return_value=parallel):
        with Flow().add(uses=Records, name="r", shards=shards, polling="ALL") as flow:
            answer = flow.post("/x", Document())
    assert answer[0].tags["blas"] == (min(share, original) if parallel else original)
    assert blas_threads_now() == original


def test_a_shard_that_fails_in_parallel_still_gives_the_cores_back(original):
    class Fails(Executor):
        @requests
        def run(self, docs, **kwargs):
            raise ValueError("this shard refuses")

    with mock.patch.object(ModeChooser, "choose", return_value=True):
        with Flow().add(uses=Fails, name="f", shards=3, polling="ALL") as flow:
            with pytest.raises(FlowError, match="this shard refuses"):
                flow.post("/x", Document())
    assert blas_threads_now() == original
