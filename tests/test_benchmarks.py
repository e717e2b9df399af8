"""The benchmark suite's report: growth exponents fitted from the scaling entries, failures reported."""

from __future__ import annotations

import math

import pytest

@pytest.fixture(scope="module")
def suite(load_script):
    return load_script("benchmarks/run.py")


def test_growth_exponent_recovers_known_powers(suite):
    assert suite.growth_exponent([1, 10, 100], [0.5, 5.0, 50.0]) == pytest.approx(1.0)
    assert suite.growth_exponent([30, 120, 600], [3 * s**2 for s in (30, 120, 600)]) == pytest.approx(2.0)
    # Hand-computed least squares on logs: x = (0, ln 2, ln 4), y = (0, ln 2, 3 ln 2) -> slope 1.5.
    assert suite.growth_exponent([1, 2, 4], [1, 2, 8]) == pytest.approx(1.5)
    assert suite.growth_exponent([1, 1, 1], [1, 2, 3]) is None  # one size: no slope
    assert suite.growth_exponent([1, 2, 4], [None, 0.0, 1.0]) is None  # failed or zero costs are dropped


def test_report_lists_scaling_and_failures(suite):
    report = {
        "date": "2026-11-22 00:00 UTC", "quick": True, "total_seconds": 12.0, "machine": {"cpus": 2},
        "benchmarks": {
            "bench_fast": {"seconds": 1.0, "peak_rss_mb": 100.0, "result": {
                "ratio": 2.5,
                "scaling": [{"what": "decode", "unit": "audio min", "sizes": [1, 10, 60],
                             "seconds": [0.1, 1.0, 6.0], "peak_mb": [200.0, 200.0, 200.0]}]}},
            "bench_broken": {"error": "exit 1: MemoryError", "seconds": 3.0},
        },
    }
    report["scaling"] = suite.scaling_rows(report)
    (row,) = report["scaling"]
    assert row["benchmark"] == "fast" and row["exponent"] == pytest.approx(1.0)
    assert math.isclose(row["memory_exponent"], 0.0, abs_tol=1e-12)  # flat memory: streaming
    md = suite.to_markdown(report)
    assert "| fast | decode | 1, 10, 60 audio min | 0.1, 1, 6 | 1 | 200, 200, 200 (0) |" in md
    assert "**failed**: exit 1: MemoryError" in md
    assert "| ratio | 2.5 |" in md and "scaling." not in md  # scaling is summarised once, not flattened
