"""Headless Chromium as `alismon snapshot --png` drives it: full-page PNGs, and every console error caught."""

from __future__ import annotations

from pathlib import Path

from exporters.snapshot.png import distinct_bytes, screenshots
from tests.conftest import tool


def test_console_errors_failed_loads_and_blank_pages_are_caught(tmp_path: Path) -> None:
    tool("chromium")
    broken = tmp_path / "broken.html"
    broken.write_text('<!doctype html><p>x</p><script>console.error("boom"); nope();</script><img src="gone.png">')
    blank = tmp_path / "blank.html"
    blank.write_text("<!doctype html><html><body></body></html>")
    tall = tmp_path / "tall.html"
    tall.write_text("<!doctype html>" + "".join(f"<h1 style='margin:0;height:100px'>line {i}</h1>" for i in range(30)))
    shots = {s.page.name: s for s in screenshots([broken, blank, tall], tmp_path / "png")}

    errors = shots["broken.html"].console_errors
    assert any("boom" in e for e in errors) and any("nope is not defined" in e for e in errors)
    assert any("gone.png" in e for e in errors)
    assert shots["blank.html"].console_errors == [] and distinct_bytes(shots["blank.html"].png) < 16
    # The whole page, not the window: 30 headings of 100 px make a 3000 px tall image.
    png = shots["tall.html"].png.read_bytes()
    assert int.from_bytes(png[16:20], "big") == 1600 and int.from_bytes(png[20:24], "big") >= 3000
    assert distinct_bytes(shots["tall.html"].png) > 16
