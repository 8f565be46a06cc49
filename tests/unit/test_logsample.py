"""Refusal logs are bounded: the first lines of each window one by one, the rest summed up."""

from __future__ import annotations

import logging

import pytest

from exporters.core.logsample import SampledLog


def test_a_flood_gives_a_few_lines_and_one_summary_per_window(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    sampled = SampledLog(logging.getLogger("t"), "refused", burst=3, window=60.0, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="t"):
        for i in range(100):
            sampled("bad_json" if i % 2 else "unauthorized", status=400)
        assert [r.getMessage() for r in caplog.records] == ["refused"] * 3  # the rest wait for the window's end
        now[0] = 61.0
        sampled("bad_json", status=400)  # a new window: the summary of the last one, then this line
        sampled.flush()
        sampled.flush()  # nothing more to say
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["refused"] * 3 + ["refused (more, not logged one by one)", "refused"]
    summary = caplog.records[3]
    assert summary.left_out == 97 and summary.by_reason == "bad_json:49,unauthorized:48"  # type: ignore[attr-defined]
