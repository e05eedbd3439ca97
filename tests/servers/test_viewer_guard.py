"""The viewer guard's decisions, from made-up kernel observations (pure)."""

from __future__ import annotations

from camstream.servers.viewer_guard import Observation, ViewerGuard

CAP = 1_048_576


def _guard() -> ViewerGuard:
    g = ViewerGuard(stall_s=5, no_request_s=8, idle_no_session_s=30)
    g.connected(1, "10.0.0.9:5000", 0.0)
    g.request(1, 0.1)
    g.session(1)
    return g


def test_reader_that_stops_is_dropped_after_5_s_without_progress() -> None:
    g = _guard()
    assert g.check(1, Observation(200_000, 1000, CAP), 1.0) is None
    assert g.check(1, Observation(300_000, 1000, CAP), 5.9) is None
    why = g.check(1, Observation(300_000, 1000, CAP), 6.1)
    assert why == ("viewer 10.0.0.9:5000 took no data for 5 s (292 kB waiting): too slow or gone, disconnected; "
                   "other viewers are not affected")


def test_progress_or_an_empty_queue_keeps_a_viewer() -> None:
    g = _guard()
    for t in range(1, 30):
        assert g.check(1, Observation(100_000, 1000 * t, CAP), float(t)) is None  # acks move
    assert g.check(1, Observation(0, 29_000, CAP), 60.0) is None  # nothing to send: nothing to judge


def test_viewer_slower_than_the_stream_is_dropped_even_though_it_makes_progress() -> None:
    g = _guard()
    whys = [g.check(1, Observation(CAP // 2 + 10, 1000 * t, CAP), float(t)) for t in range(1, 8)]
    assert whys[:6] == [None] * 6
    why = whys[6]
    assert why is not None and why.startswith("viewer 10.0.0.9:5000 cannot keep up")


def test_half_sent_request_and_idle_connection() -> None:
    g = ViewerGuard(stall_s=5, no_request_s=8, idle_no_session_s=30)
    g.connected(2, "h:1", 0.0)
    assert g.check(2, None, 7.0) is None
    assert g.check(2, None, 8.5) == "viewer h:1 sent no complete request in 8 s: disconnected"
    g.connected(3, "h:2", 0.0)
    g.request(3, 1.0)
    assert g.check(3, None, 30.0) is None
    assert g.check(3, None, 31.5) == "viewer h:2 idle without a session for 30 s: disconnected"


def test_closed_viewers_are_forgotten() -> None:
    g = _guard()
    g.closed(1)
    assert len(g) == 0 and g.check(1, Observation(1, 1, CAP), 100.0) is None

