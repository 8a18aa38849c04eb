"""Async endpoint methods run as asyncio Tasks, whether or not they ever wait: the engine
runs a Task's first step itself and hands a coroutine still waiting to the loop, and
neither path may show the method anything a Task would not (current_task, timeouts, its
own context, the running loop)."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from unittest import mock

import pytest

from faasflow import Document, Executor, Flow, FlowError, requests

marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="unset")


class TaskMinded(Executor):
    @requests(on="/quick")
    async def quick(self, docs, **kwargs):
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        marker.set("inside")  # a Task's own context: must not reach the caller
        async with asyncio.timeout(5):
            pass
        for doc in docs:
            doc.tags.update(task=task is not None, loop=loop is asyncio.get_event_loop(),
                            thread=threading.current_thread().name)

    @requests(on="/waits")
    async def waits(self, docs, **kwargs):
        first = asyncio.current_task()
        await asyncio.sleep(0)
        await asyncio.sleep(0.01)
        helper = asyncio.create_task(asyncio.sleep(0, result=7))
        value = await asyncio.wait_for(helper, timeout=5)
        for doc in docs:
            doc.tags.update(same_task=first is asyncio.current_task(), value=value)

    @requests(on="/times-out")
    async def times_out(self, docs, **kwargs):
        async with asyncio.timeout(0.01):
            await asyncio.sleep(5)

    @requests(on="/leaves-work")
    async def leaves_work(self, docs, **kwargs):
        # a task and a timer left behind: the next call's turn must still run the task
        self.left = asyncio.create_task(self._mark(docs))
        self.timer = asyncio.get_running_loop().call_later(60, lambda: None)

    @staticmethod
    async def _mark(docs):
        for doc in docs:
            doc.tags["background"] = True

    @requests(on="/raises")
    async def raises(self, docs, **kwargs):
        raise ValueError("bad doc")

    @requests(on="/raises-later")
    async def raises_later(self, docs, **kwargs):
        await asyncio.sleep(0)
        raise KeyError("later")


@pytest.fixture(scope="module")
def flow():
    with Flow().add(name="t", uses=TaskMinded) as f:
        yield f


def test_a_method_that_never_waits_runs_as_a_task_in_its_own_context(flow):
    marker.set("caller")
    for _ in range(3):  # the thread's loop is made once, then reused
        doc = flow.post("/quick", Document())[0]
        assert doc.tags["task"] is True
        assert doc.tags["loop"] is True
    assert marker.get() == "caller"


def test_a_method_that_waits_finishes_on_the_same_task(flow):
    doc = flow.post("/waits", Document())[0]
    assert doc.tags == {"same_task": True, "value": 7}


def test_timeouts_and_errors_reach_the_caller_as_the_executors_failure(flow):
    for endpoint, error in (("/times-out", "TimeoutError"), ("/raises", "bad doc"), ("/raises-later", "later")):
        with pytest.raises(FlowError, match=error):
            flow.post(endpoint, Document())
    assert flow.post("/quick", Document())[0].tags["task"] is True  # the loop is still usable


def test_work_a_call_leaves_on_the_loop_runs_with_the_next_call_and_the_first_step_still_runs():
    from faasflow.executor import _loops

    with Flow().add(name="t", uses=TaskMinded) as f:
        executor = f._engine.instances["t"][0]
        f.post("/quick", Document())  # the thread's loop exists
        loop = _loops.loop
        with mock.patch.object(loop, "_run_once", wraps=loop._run_once) as turns:
            f.post("/quick", Document())
            assert turns.call_count == 0  # the step alone was ready: run without a turn of the loop
            f.post("/leaves-work", Document())
            assert not executor.left.done()  # a step of its own, after the method's
            answer = f.post("/quick", Document())  # more than its own step ready: a turn runs them all
            assert executor.left.done() and answer[0].tags["task"] is True
            try:
                for _ in range(3):  # a timer scheduled but not due: the step alone again
                    assert f.post("/quick", Document())[0].tags["loop"] is True
                assert turns.call_count == 1
            finally:
                executor.timer.cancel()


def test_an_endpoint_called_from_a_running_loop_is_refused_as_before():
    from faasflow.executor import _run_coroutine

    async def inner():
        return 1

    async def outer():
        coro = inner()
        try:
            with pytest.raises(RuntimeError):
                _run_coroutine(coro)
        finally:
            coro.close()

    asyncio.run(outer())
