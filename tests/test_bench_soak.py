"""The soak report: numbers come from the samples (pure render), so the benchmark cannot rot silently."""

from __future__ import annotations

from bench.soak import render


def test_render_reports_rate_memory_and_minutes() -> None:
    samples = [(0.0, 1.0, 50_000_000), (60.0, 1.3, 51_000_000), (120.0, 1.5, 50_500_000)]
    text = render(samples, "1280x720")
    assert "| 0.25 | 0.4% | 50.0 | 50.5 | 51.0 |" in text  # (1.5 - 1.0) s over 2 min
    assert "| 1 | 0.30 | 51.0 |" in text and "| 2 | 0.20 | 50.5 |" in text
    assert "for 2.0 min" in text


def test_render_without_samples_says_so() -> None:
    assert "No samples" in render([], "320x240")
