"""The local engine's executor stages, timed and taken one request at a time.

A served Flow gets concurrent requests on worker threads. Each executor still handles one
request at a time, as one Lambda container does, so an executor written for one caller
(an index appending to a list) needs no locks of its own; different executors of a
pipeline still work on different requests at once.
"""

from __future__ import annotations

import logging
import threading
from time import perf_counter
from typing import Any

from faasflow.serve.backend import ExecutorObserver

logger = logging.getLogger("faasflow.serve")

_OBSERVERS = "_faasflow_stage_observers"


def instrument_engine(engine: Any, observer: ExecutorObserver) -> None:
    """Wrap ``engine._run_stage`` (once per engine) to lock per executor and report timings."""
    observers: list[ExecutorObserver] | None = engine.__dict__.get(_OBSERVERS)
    if observers is not None:
        observers.append(observer)
        return
    run_stage = getattr(engine, "_run_stage", None)
    if run_stage is None:  # an engine without stages: serve it, without executor metrics
        logger.warning("the engine has no _run_stage: executor metrics are off")
        return
    observers = [observer]
    locks = {spec.name: threading.Lock() for spec in engine.plan.executors}

    def observed_stage(spec: Any, endpoint: str, *args: Any, **kwargs: Any) -> Any:
        with locks[spec.name]:
            started = perf_counter()
            failed = True
            try:
                result = run_stage(spec, endpoint, *args, **kwargs)
                failed = False
                return result
            finally:
                seconds = perf_counter() - started
                for each in observers:
                    each.observe_executor(spec.name, endpoint, seconds, failed)

    engine._run_stage = observed_stage
    setattr(engine, _OBSERVERS, observers)
