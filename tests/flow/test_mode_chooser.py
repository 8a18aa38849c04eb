"""The engine's choice between running a stage's shards in parallel threads or one after
another: learnt from the calls' own times, and not thrown by one slow call."""

from __future__ import annotations

from faasflow.engine import ModeChooser


def run(chooser: ModeChooser, cost: dict[bool, float], calls: int) -> list[bool]:
    """``calls`` calls costing ``cost[mode]`` seconds each; the modes chosen."""
    chosen = []
    for _ in range(calls):
        parallel = chooser.choose()
        chooser.record(parallel, cost[parallel])
        chosen.append(parallel)
    return chosen


def test_both_modes_are_tried_then_the_faster_is_kept_and_the_other_retried_now_and_then():
    chooser = ModeChooser()
    chosen = run(chooser, {True: 0.010, False: 0.004}, 2 * ModeChooser.RETRY_EVERY)
    assert chosen[:4] == [True, False, True, False]  # each mode twice, alternately
    retries = [n + 1 for n, parallel in enumerate(chosen) if parallel and n >= 4]
    assert retries == [ModeChooser.RETRY_EVERY, 2 * ModeChooser.RETRY_EVERY]  # every RETRY_EVERY-th call


def test_one_slow_call_does_not_hand_the_next_calls_to_the_slower_mode():
    # a write that also compacts costs several times an ordinary one: in sequence here
    chooser = ModeChooser()
    run(chooser, {True: 0.140, False: 0.110}, 6)
    chooser.record(False, 0.885)
    assert run(chooser, {True: 0.140, False: 0.110}, 8) == [False] * 8


def test_a_lasting_change_of_costs_changes_the_choice():
    chooser = ModeChooser()
    run(chooser, {True: 0.010, False: 0.004}, ModeChooser.RETRY_EVERY + 1)
    # sequential calls became slow (say the shards' indexes grew): after a few, threads win
    chosen = run(chooser, {True: 0.010, False: 0.030}, ModeChooser.RETRY_EVERY)
    # three slow calls make most of the window: the fourth runs in parallel, and so do the
    # rest but the one retry of the other mode
    assert chosen[:3] == [False] * 3
    assert chosen[3:].count(False) == 1 and chosen[3:].count(True) == len(chosen) - 4


def test_a_modes_one_slow_first_call_does_not_outweigh_its_next_one():
    # the first parallel call also pays one-time costs (the BLAS libraries' inspection)
    chooser = ModeChooser()
    chooser.record(True, 0.150)
    chooser.record(False, 0.110)
    assert chooser.choose() is True  # each mode runs twice before the choice
    chooser.record(True, 0.090)
    assert chooser.choose() is False
    chooser.record(False, 0.105)
    assert chooser.choose() is True  # the faster of each mode's two calls decides


def test_a_slow_first_parallel_call_does_not_hand_every_call_to_sequence():
    # measured on an ingest into 4 IVF shards: the first parallel call took 122 ms, the
    # next ones about 75 ms; in sequence each took about 100 ms
    chooser = ModeChooser()
    costs = iter([0.122] + [0.075] * 40)
    chosen = []
    for _ in range(20):
        parallel = chooser.choose()
        chooser.record(parallel, next(costs) if parallel else 0.100)
        chosen.append(parallel)
    assert chosen[:4] == [True, False, True, False]
    assert chosen[4:] == [True] * 16


def test_a_choice_made_while_two_requests_record_their_first_samples_does_not_fail():
    # record() appends a sample, then sets its mode's median: two requests that both ran in
    # parallel first can leave two samples and no median for a moment, seen by a third
    chooser = ModeChooser()
    chooser.record(False, 0.004)
    chooser.record(False, 0.005)
    chooser.samples[True].extend([0.010, 0.012])  # appended, medians not yet set
    assert chooser.median[True] is None
    assert chooser.choose() is True  # the mode without a median yet runs again
