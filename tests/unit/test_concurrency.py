"""The window of calls in flight (pendo/concurrency.py): grows while answers are clean,
shrinks on congestion, stays between 1 and its cap, judges latency per kind of call and per
record; and the pace a 429 sets (pendo/pacing.py). Time is a clock the tests move."""

from __future__ import annotations

import pytest

from dbt_pendo_sync.pendo.concurrency import START, AdaptiveLimit
from dbt_pendo_sync.pendo.pacing import BURST, GROWTH, MARGIN, Pacer


class Clock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _answer(window: AdaptiveLimit, calls: int, clock: Clock | None = None, **call: float) -> None:
    """`calls` clean answers of one kind (`kind`, `work` records), each taking `seconds`."""
    kind, work, seconds = (
        str(call.get("kind", "metadata")),
        int(call.get("work", 500)),
        call.get("seconds", 0.0),
    )
    for _ in range(calls):
        with window.slot(kind, work):
            if clock is not None:
                clock.now += seconds


def test_clean_answers_grow_the_window_up_to_its_cap():
    window = AdaptiveLimit(cap=32)
    assert window.limit == START
    _answer(window, 10)
    assert window.limit == START + 10  # slow start: one more per clean answer
    _answer(window, 100)
    assert window.limit == 32


def test_congestion_halves_it_once_per_round_trip_and_growth_turns_additive():
    window = AdaptiveLimit(cap=64)
    _answer(window, 20)
    window.congested()
    assert window.limit == (START + 20) / 2
    window.congested()  # the same burst of refusals: no second cut
    assert window.limit == (START + 20) / 2
    before = window.limit
    _answer(window, 12)  # one round trip's worth of answers: about one more
    assert before + 0.5 < window.limit < before + 1.5


def test_the_window_never_closes_and_a_failed_call_frees_its_place():
    window = AdaptiveLimit(cap=1)
    with pytest.raises(ConnectionError), window.slot("metadata", 500):
        raise ConnectionError
    window.congested()
    assert window.limit == 1.0
    _answer(window, 1)  # a free place: this does not wait


def test_a_call_refused_on_the_way_is_no_clean_answer():
    """A call answered 429 or 5xx and then retried (inside its place in the window) says
    nothing about latency and earns no growth: its time includes the Retry-After wait."""
    window = AdaptiveLimit(cap=64)
    _answer(window, 20)
    with window.slot("metadata", 500):
        window.congested()  # the retry loop is told of a 503; the retry then succeeds
    assert window.limit == (START + 20) / 2
    with window.slot("metadata", 500):
        window.refused()  # a 429: the pace answers it (pacing.py), not the window
    assert window.limit == (START + 20) / 2


def test_a_fast_kind_of_call_does_not_make_a_slow_one_look_congested():
    """Baselines are per kind: track calls answered in 5 ms, then bulk metadata writes in
    250 ms, each as fast as its kind goes: no cut, the window keeps doubling."""
    clock = Clock()
    window = AdaptiveLimit(cap=64, clock=clock)
    _answer(window, 4, clock, kind="track", work=1, seconds=0.005)
    _answer(window, 20, clock, kind="metadata", work=500, seconds=0.25)
    assert window.limit == START + 24
    # This kind, 2.4x slower: a round trip of such answers, judged when the next one begins.
    _answer(window, 2, clock, kind="metadata", work=500, seconds=0.6)
    assert window.limit == (START + 25) * 0.75


def test_latency_is_judged_per_record_for_bulk_calls():
    """A 500-record write may take ten times a 50-record one (Pendo's time grows with the
    batch), and a 50-record write as long as a 500-record one (a fixed cost): neither is
    congestion. A write twice as slow as its records explain is."""
    clock = Clock()
    window = AdaptiveLimit(cap=64, clock=clock)
    _answer(window, 4, clock, work=50, seconds=0.03)  # 10 ms fixed + 0.4 ms per record
    _answer(window, 4, clock, work=500, seconds=0.21)
    _answer(window, 4, clock, work=50, seconds=0.03)
    _answer(window, 4, clock, work=200, seconds=0.09)
    assert window.limit == START + 16
    _answer(window, 2, clock, work=500, seconds=0.5)  # a slow round trip, then the next
    assert window.limit == (START + 17) * 0.75


def test_a_429_paces_calls_at_a_little_under_the_rate_pendo_accepted():
    clock = Clock()
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    assert pacer.rate == float("inf")  # unpaced until Pendo refuses a call
    for _ in range(3 * 64):  # three seconds at 64 calls per second, all accepted
        clock.now += 1 / 64
        pacer.wait()
        pacer.succeeded()
    pacer.wait()
    pacer.throttled()  # the 65th call of the last second: refused
    assert pacer.rate == pytest.approx(MARGIN * 64)
    pacer.throttled()  # the same burst: the 64th was refused too, so 63 were accepted
    assert pacer.rate == pytest.approx(MARGIN * 63)
    clock.now += BURST
    pacer.throttled()  # a straggler of the same excess: neither a cut nor a count
    assert pacer.rate == pytest.approx(MARGIN * 63)
    for _ in range(64):  # the pace grows a little per accepted call
        pacer.wait()
        pacer.succeeded()
    assert pacer.rate == pytest.approx(MARGIN * 63 + 64 * GROWTH)


def test_a_429_among_a_few_calls_sets_no_pace():
    """Four calls in the last second and one refused: no rate limit near Pendo's is hit by so
    few, so the refusal is only retried (a pace of 3 calls a second would starve the run)."""
    clock = Clock()
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    for _ in range(4):
        clock.now += 0.1
        pacer.wait()
    pacer.throttled()
    assert pacer.rate == float("inf")


def test_after_a_429_calls_wait_for_room_in_the_last_second():
    """100 calls go at once and the last is refused: Pendo took 99 in this second. The next
    call waits until the calls of the burst begin to leave the second (not a burst of
    refusals), and the ones after it go at the pace."""
    clock = Clock()
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    burst = clock.now
    for _ in range(100):
        pacer.wait()
    pacer.throttled()
    rate = MARGIN * 99
    assert pacer.rate == pytest.approx(rate)
    pacer.wait()
    assert clock.now == burst + 1
    starts = []
    for _ in range(10):
        pacer.wait()
        starts.append(clock.now)
    assert starts[-1] - starts[0] == pytest.approx(9 / rate)


def test_a_ceiling_stays_a_ceiling():
    clock = Clock()
    pacer = Pacer(ceiling=20, clock=clock, sleep=clock.sleep)
    assert pacer.rate == 20
    for _ in range(40):  # calls at the ceiling's pace: the clock moves as the pacer sleeps
        pacer.wait()
    assert clock.now == pytest.approx(1000 + 39 / 20)
    pacer.throttled()  # the 40th refused (another client shares the key): 19 taken before it
    assert pacer.rate == pytest.approx(MARGIN * 19)
    for _ in range(1000):
        pacer.succeeded()
    assert pacer.rate == 20


def _answered_now(window: AdaptiveLimit, *seconds: float) -> None:
    """Clean answers arriving now, of calls sent `seconds` ago each."""
    for taken in seconds:
        with window.slot("metadata", 500) as call:
            call.started -= taken


def test_a_round_trip_is_a_queue_only_when_all_its_answers_are_slow():
    """A sender short of CPU sees some answers late: a round trip (the answers within one
    expected call time) with one on time among slow ones is no queue. One of only slow
    answers is: a quarter off, when the next round trip begins."""
    clock = Clock()
    window = AdaptiveLimit(cap=64, clock=clock)
    _answer(window, 4, clock, seconds=0.25)
    grown = window.limit
    clock.now += 0.3
    _answered_now(window, 0.6, 0.6, 0.25, 0.6)  # one round trip, one answer on time
    clock.now += 0.3
    _answered_now(window, 0.6, 0.6, 0.6, 0.6)  # the next: every answer slow
    assert window.limit == grown + 8
    clock.now += 0.3
    _answered_now(window, 0.6)  # the round trip after it begins: the slow one is judged
    assert window.limit == (grown + 8) * 0.75
