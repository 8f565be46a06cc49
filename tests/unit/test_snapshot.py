"""The static dashboard pages' pure parts: variables, legends, units, charts."""

from __future__ import annotations

from exporters.snapshot.pages import Series, fmt_value, legend, substitute, svg_chart, variables


def test_variables_take_the_dashboard_defaults() -> None:
    dashboard = {
        "templating": {
            "list": [
                {"name": "job", "current": {"value": "alismon-blockchain"}},
                {"name": "chain", "current": {"value": "$__all"}},
            ]
        }
    }
    values = variables(dashboard, "60s")
    assert values["job"] == "alismon-blockchain" and values["chain"] == ".*"
    expr = 'rate(x{job=~"$job", chain=~"${chain}"}[$__rate_interval])'
    assert substitute(expr, values) == 'rate(x{job=~"alismon-blockchain", chain=~".*"}[60s])'


def test_legends_and_units() -> None:
    assert legend("{{chain}} {{ endpoint }}", {"chain": "eth", "endpoint": "a"}) == "eth a"
    assert legend("", {"__name__": "up", "job": "x"}) == '{job="x"}'
    assert fmt_value(0.1234, "percentunit") == "12.3%"
    assert fmt_value(3 * 1024**3, "bytes") == "3.0 GiB"
    assert fmt_value(0.0042, "s") == "4.2 ms"
    assert fmt_value(25.3, "suffix: gwei") == "25.3 gwei"
    assert fmt_value(1, "bool_yes_no") == "yes"
    assert fmt_value(2.5, "ops") == "2.5/s"


def test_chart_scales_every_series_into_the_box() -> None:
    svg = svg_chart([Series("a", [(0, 1.0), (10, 3.0)]), Series("b", [(0, 2.0), (10, float("nan"))])], "none")
    assert svg.count("<polyline") == 2 and "2.0,138.0" in svg and "418.0,2.0" in svg
    assert "no finite values" in svg_chart([Series("a", [(0, float("nan"))])], "none")
