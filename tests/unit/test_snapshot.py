"""The static dashboard pages rendered from recorded Prometheus answers: units, axes, tables, stats, failures, index."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from exporters.snapshot import charts, index, tables
from exporters.snapshot.pages import Context, legend, panel_html, snapshot, substitute, variables
from exporters.snapshot.queries import Alert, Prometheus, QueryError, Series, Unreachable
from exporters.snapshot.units import axis_ticks, fmt_value

REPO = Path(__file__).resolve().parents[2]
END = 1_764_662_400.0  # a round UTC time: 08:00:00
WINDOW = (END - 900, END, 15.0)
LABELS = {"job": "alismon-system", "instance": "127.0.0.1:9100", "process": "chain-client", "sender": "node-1"}


def matrix(values: list[float], labels: Mapping[str, str] = LABELS) -> dict[str, Any]:
    points = [[WINDOW[1] - (len(values) - 1 - i) * WINDOW[2], str(v)] for i, v in enumerate(values)]
    return {
        "status": "success",
        "data": {"resultType": "matrix", "result": [{"metric": dict(labels), "values": points}]},
    }


def vector(rows: list[tuple[dict[str, str], float]]) -> dict[str, Any]:
    result = [{"metric": m, "value": [END, str(v)]} for m, v in rows]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


class Recorded:
    """Prometheus answers by path and query; every query not listed gets `default`."""

    def __init__(self, answers: dict[str, Any] | None = None, default: Any = None) -> None:
        self.answers = answers or {}
        self.default = default
        self.asked: list[str] = []

    def __call__(self, path: str, params: Mapping[str, str | float]) -> Any:
        key = str(params.get("query", path))
        self.asked.append(key)
        answer = self.answers.get(key, self.answers.get(path, self.default))
        if isinstance(answer, Exception):
            raise answer
        if path == "/api/v1/query" and answer["data"].get("resultType") == "matrix":  # its last point
            result = [{"metric": r["metric"], "value": r["values"][-1]} for r in answer["data"]["result"]]
            return {"status": "success", "data": {"resultType": "vector", "result": result}}
        return answer


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
    assert legend("", {"__name__": "up", "job": "x"}) == 'up{job="x"}'
    assert fmt_value(0.1234, "percentunit") == "12.3%"
    assert fmt_value(3 * 1024**3, "bytes") == "3 GiB"
    assert fmt_value(0.0042, "s") == "4.2 ms"
    assert fmt_value(7200, "s") == "2 h"
    assert fmt_value(25.3, "suffix: gwei") == "25.3 gwei"
    assert fmt_value(0.0003, "suffix: gwei") == "0.0003 gwei"
    assert fmt_value(1, "bool_yes_no") == "yes"
    assert fmt_value(2.5, "ops") == "2.5 ops/s"
    assert fmt_value(123456, "Bps") == "123 kB/s"
    assert fmt_value(12345678, "none") == "12345678"


@pytest.mark.parametrize(
    ("lo", "hi", "unit", "labels"),
    [
        (0, 1, "percentunit", ["0%", "25%", "50%", "75%", "100%"]),
        (0, 3.2e9, "bytes", ["0 GiB", "1 GiB", "2 GiB", "3 GiB"]),
        (1.71, 2.09, "s", ["1.7 s", "1.8 s", "1.9 s", "2.0 s", "2.1 s"]),
        (-0.5, 0.5, "none", ["-0.50", "-0.25", "0.00", "0.25", "0.50"]),
    ],
)
def test_axis_ticks_are_round_in_the_unit(lo: float, hi: float, unit: str, labels: list[str]) -> None:
    assert [label for _, label in axis_ticks(lo, hi, unit)] == labels


def _y_labels(svg: str) -> list[str]:
    return re.findall(r'text-anchor="end" class=tick>([^<]*)<', svg)


def test_chart_has_time_and_value_axes_a_threshold_and_distinct_bounds() -> None:
    series = [Series({}, [(WINDOW[0] + i * 15, 1.9) for i in range(61)], "dev a")]
    svg = charts.line_chart(series, "s", WINDOW, 600, thresholds=[charts.Step(None, "green"), charts.Step(2.0, "red")])
    y_labels = _y_labels(svg)
    assert len(set(y_labels)) == len(y_labels) >= 3 and all(label.endswith(" s") for label in y_labels)
    assert re.findall(r'text-anchor="middle" class=tick>(\d\d:\d\d)<', svg)[:2] == ["07:45", "07:50"]
    assert svg.count("class=threshold") == 1
    # Flat data shows how far the line is; varying data is not squashed by a line far above it.
    flat_far = charts.line_chart(series, "s", WINDOW, 600, thresholds=[charts.Step(600.0, "#c4162a")])
    assert flat_far.count("class=threshold") == 1 and _y_labels(flat_far)[-1] == "10.0 min"
    varying = [Series({}, [(WINDOW[0] + i * 15, 1.9 + (i % 2) / 10) for i in range(61)], "dev a")]
    far = charts.line_chart(varying, "s", WINDOW, 600, thresholds=[charts.Step(600.0, "#c4162a")])
    assert "threshold 10 min is off the chart" in far and "class=threshold" not in far


def test_a_flat_series_at_zero_gets_no_negative_axis() -> None:
    flat = [Series({}, [(WINDOW[0] + i * 15, 0.0) for i in range(61)], "idle")]
    for unit in ("percentunit", "Bps", "short"):
        labels = _y_labels(charts.line_chart(flat, unit, WINDOW, 600))
        assert labels[0].startswith("0") and not any(label.startswith("-") for label in labels), labels
    assert "no finite values" in charts.line_chart([Series({}, [(0, float("nan"))])], "none", WINDOW, 600)


def test_legend_shows_last_min_and_max() -> None:
    html = charts.legend([Series({}, [(0, 0.2), (15, 0.9), (30, 0.5)], "cpu")], "percentunit")
    assert "<th>last</th><th>min</th><th>max</th>" in html
    assert [c for c in re.findall(r"<td class=num>([^<]*)</td>", html)] == ["50%", "20%", "90%"]


def test_stat_is_coloured_by_its_thresholds_with_a_sparkline() -> None:
    steps = [charts.Step(None, "#37872d"), charts.Step(0.8, "#c4162a")]
    hot = tables.stat_tiles([Series({}, [(0, 0.5), (15, 0.98)], "cpu")], "percentunit", steps)
    assert "background:#c4162a" in hot and "98%" in hot and "class=spark" in hot
    cool = tables.stat_tiles([Series({}, [(0, 0.5), (15, 0.3)], "cpu")], "percentunit", steps)
    assert "background:#37872d" in cool


def _panel(dashboard: str, title: str) -> dict[str, Any]:
    panels = json.loads((REPO / "dashboards" / dashboard).read_text())["panels"]
    return next(p for p in panels if p["title"] == title and p["type"] != "row")


def test_tables_carry_their_label_columns() -> None:
    procs = Recorded(default=vector([({"__name__": "system_process_up", **LABELS}, 1)]))
    ctx = Context(Prometheus("http://127.0.0.1:1", fetch=procs), {}, WINDOW)
    html, failures = panel_html(_panel("system.json", "Watched processes"), ctx)
    assert not failures
    assert "<th>process</th>" in html and "<td>chain-client</td>" in html and "<th>up</th>" in html

    ages = Recorded(
        default=vector(
            [({"sender": "node-1", "event": "heartbeat"}, 3), ({"sender": "node-2", "event": "heartbeat"}, 9)]
        )
    )
    ctx = Context(Prometheus("http://127.0.0.1:1", fetch=ages), {}, WINDOW)
    html, _ = panel_html(_panel("business.json", "Seconds since each node's last event"), ctx)
    assert "<th>sender</th>" in html and "<td>node-1</td>" in html and "<td>node-2</td>" in html
    assert html.count("<th>age</th>") == 1

    sizes = Recorded(
        {
            'system_filesystem_size_bytes{job=~"$job", instance=~"$instance"}': vector([({"mountpoint": "/"}, 2**30)]),
            'system_filesystem_avail_bytes{job=~"$job", instance=~"$instance"}': vector([({"mountpoint": "/"}, 2**29)]),
        }
    )
    ctx = Context(Prometheus("http://127.0.0.1:1", fetch=sizes), {}, WINDOW)
    html, _ = panel_html(_panel("system.json", "Filesystems"), ctx)
    assert "<th>size</th><th>available</th>" in html and "<td class=num>1 GiB</td><td class=num>512 MiB</td>" in html


def test_a_failed_query_is_marked_on_its_panel() -> None:
    fetch = Recorded(default={"status": "error", "errorType": "bad_data", "error": "parse error at char 3"})
    ctx = Context(Prometheus("http://127.0.0.1:1", fetch=fetch), {"job": "j", "instance": ".*"}, WINDOW)
    html, failures = panel_html(_panel("system.json", "CPU busy"), ctx)
    assert 'class="panel failed"' in html and "query failed" in html and "parse error at char 3" in html
    assert failures == ['CPU busy: system:cpu_usage:ratio{job=~"j", instance=~".*"}: bad_data: parse error at char 3']


def test_snapshot_writes_nothing_when_prometheus_does_not_answer(tmp_path: Path) -> None:
    down = Unreachable("Prometheus at http://127.0.0.1:1 is unreachable: connection refused")
    prometheus = Prometheus("http://127.0.0.1:1", fetch=Recorded(default=down))
    with pytest.raises(QueryError, match=r"http://127\.0\.0\.1:1 is unreachable"):
        snapshot(prometheus, REPO / "dashboards", tmp_path / "out", 15, 15)
    assert not (tmp_path / "out").exists()


def _healthy(extra: dict[str, Any] | None = None) -> Recorded:
    return Recorded(
        {
            "/api/v1/status/buildinfo": {"status": "success", "data": {"version": "2.42.0"}},
            "/api/v1/alerts": {"status": "success", "data": {"alerts": []}},
            "/api/v1/alertmanagers": {"status": "success", "data": {"activeAlertmanagers": [{"url": "http://am"}]}},
            "up": vector([({"job": "alismon-system", "instance": "a"}, 1)]),
            "ALERTS": vector([]),
            **(extra or {}),
        },
        default=matrix([0.25, 0.5, 0.75]),
    )


def test_every_panel_of_every_dashboard_draws_a_chart_or_a_value(tmp_path: Path) -> None:
    result = snapshot(Prometheus("http://127.0.0.1:1", fetch=_healthy()), REPO / "dashboards", tmp_path, 15, 15)
    assert len(result.pages) == 5 and not result.failures
    for page in result.pages:
        html = page.read_text()
        panels = re.findall(r'<section class="panel" data-type="(\w+)"[^>]*>(.*?)</section>', html, re.S)
        assert len(panels) >= 6, page.name
        for kind, body in panels:
            assert "no data" not in body and "NaN" not in body, (page.name, kind)
            marker = {"timeseries": "class=tick", "table": "class=data", "bargauge": "class=bars"}.get(
                kind, "class=stat"
            )
            assert marker in body, (page.name, kind, body[:200])
    assert "Nothing is wrong" in result.index.read_text()


def test_index_answers_is_anything_wrong(tmp_path: Path) -> None:
    firing = {"__name__": "ALERTS", "alertname": "HostDown", "alertstate": "firing", "severity": "critical"}
    recorded = _healthy(
        {
            "/api/v1/alerts": {
                "status": "success",
                "data": {
                    "alerts": [
                        {
                            "labels": {"alertname": "HostDown", "severity": "critical"},
                            "state": "firing",
                            "annotations": {"summary": "A host is down."},
                        },
                        {"labels": {"alertname": "Watchdog"}, "state": "firing"},
                    ]
                },
            },
            "ALERTS": vector([(firing, 1), ({**firing, "alertname": "Watchdog", "severity": "none"}, 1)]),
            "up": vector(
                [({"job": "alismon-system", "instance": "a"}, 0), ({"job": "prometheus", "instance": "p"}, 1)]
            ),
            "/api/v1/alertmanagers": {"status": "success", "data": {"activeAlertmanagers": []}},
        }
    )
    # Every dashboard's alert query answers HostDown; its other queries the default matrix.
    for path in (REPO / "dashboards").glob("*.json"):
        dashboard = json.loads(path.read_text())
        for a in dashboard["annotations"]["list"]:
            if "expr" in a:
                recorded.answers[substitute(a["expr"], variables(dashboard, "60s"))] = vector([(firing, 1)])
    result = snapshot(Prometheus("http://127.0.0.1:1", fetch=recorded), REPO / "dashboards", tmp_path, 15, 15)
    html = result.index.read_text()
    assert "Something is wrong: 1 alert firing, 2 components unhealthy." in html
    assert "1 firing</span>" in html and "HostDown" in html and "Watchdog" not in html
    assert "A host is down." in html  # the summary Prometheus holds for the alert
    assert "0 of 1 targets up: down a" in html and "configured, but Prometheus has discovered none" in html


def test_index_lists_components() -> None:
    components = [index.Component("Prometheus", True, "answering"), index.Component("alismon-system", False, "0 of 1")]
    html = index.body([], components, [Alert("Watchdog", "firing")])
    assert "Something is wrong: 1 component unhealthy." in html and "DOWN" in html
