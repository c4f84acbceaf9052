"""The performance benchmark's measurements (small shapes; the timings themselves are not asserted)."""

from __future__ import annotations

import pytest

from benchmark import bench

SMALL = {"batch": 4, "frames": 200, "mel": 64, "filters": 32, "kernel": (25, 9)}


def test_step_memory_is_measured_per_implementation_in_fresh_processes():
    rows = bench.bench_memory(("free_conv", "separable"), config=SMALL)
    assert [r["system"] for r in rows] == ["free_conv", "separable"]
    # A step holds at least its output: batch x frames x mel x 2·filters float32.
    out_mib = 4 * 200 * 64 * 64 * 4 / 2**20
    for r in rows:
        assert r["peak_mib"] >= 0.9 * out_mib, r
        assert "VmHWM" in r["method"] or "getrusage" in r["method"] or "get_memory_info" in r["method"]
    assert rows[0]["ratio_to_free_conv"] == 1.0
    assert rows[1]["ratio_to_free_conv"] == pytest.approx(rows[1]["peak_mib"] / rows[0]["peak_mib"], abs=1e-3)


def test_timing_reports_wall_and_cpu_time():
    t = bench._time(lambda: sum(range(20000)), repeats=3, warmup=0)
    assert t.min_ms <= t.median_ms <= t.max_ms
    assert t.cpu_ms >= 0
