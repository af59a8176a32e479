"""The window of calls in flight (pendo/concurrency.py): grows while answers are clean,
shrinks on congestion, stays between 1 and its cap."""

from __future__ import annotations

from dbt_pendo_sync.pendo.concurrency import START, AdaptiveLimit


def _answer(window: AdaptiveLimit, calls: int) -> None:
    for _ in range(calls):
        with window.slot():
            pass


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
    try:
        with window.slot():
            raise ConnectionError
    except ConnectionError:
        pass
    window.congested()
    assert window.limit == 1.0
    _answer(window, 1)  # a free place: this does not wait


def test_a_call_refused_on_the_way_is_no_clean_answer():
    """A call answered 429 and then retried (inside its place in the window) says nothing
    about latency and earns no growth: its time includes the Retry-After wait."""
    window = AdaptiveLimit(cap=64)
    _answer(window, 20)
    with window.slot():
        window.congested()  # the retry loop is told of a 429; the retry then succeeds
    assert window.limit == (START + 20) / 2
