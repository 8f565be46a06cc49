"""The generated rules are portable: every alert of the promtool unit tests fires through vmalert on VictoriaMetrics.

Each promtool test case of tests/rules/*.yml (its `input_series` expanded as promtool does: `a+bxn`, `axn`,
`_`, `_xn`, `stale`) is imported with timestamps into one VictoriaMetrics 1.79 (/api/v1/import). vmalert then
replays the same rules files (rules/recording.yml, then rules/alerts.yml) over the whole range and writes
its ALERTS series back into VictoriaMetrics. At each `alert_rule_test` eval_time, the firing alerts of that
alertname must be exactly the expected ones (alertname + exp_labels), as promtool checks them.

How the replay is laid out (vmalert 1.79, app/vmalert/replay.go): a group is replayed in range queries of
`-replay.maxDatapointsPerQuery` steps, and every range query starts each alert afresh (pending from the
first step its expression holds). Each test case gets its own query chunk of CHUNK_STEPS minutes, starting
at the case's time 0: the case starts from a clean alert state, as in promtool, and every query sees only
its own case's samples (a chunk is far longer than a case plus the longest rule window, 6h). Only the last
step of a chunk is also the first step of the next case: a rule with `for` cannot be firing at a case's
time 0, so at eval_time 0 only rules without `for` are counted.

Where vmalert and MetricsQL differ from Prometheus, docs/scaling.md ("Rule portability") says what the
rules do about it; EXCEPTIONS below lists the expectations that hold on VictoriaMetrics only a minute or two
apart, with why; the test checks them at the shifted time.
`promql_expr_test` entries test PromQL expressions, not rules, and are left to promtool.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from exporters.core.types import parse_duration
from exporters.stack.procs import ManagedProcess, free_port
from tests.conftest import REPO, tool

RULE_TESTS = sorted((REPO / "tests/rules").glob("*.yml"))
RULE_FILES = (REPO / "rules/recording.yml", REPO / "rules/alerts.yml")
STEP = 60  # seconds: every promtool test here evaluates and samples each minute
CHUNK_STEPS = 1000  # minutes a case owns: more than its samples plus the rules' longest look back (checked)
DAY = 86400
STALE = "stale"

# Where promtool's expectation holds on VictoriaMetrics only some minutes earlier or later:
# (test file, alertname, eval_time in minutes) -> (minutes to add on VictoriaMetrics, why).
# docs/scaling.md ("Rule portability") has the same table.
EXCEPTIONS: dict[tuple[str, str, int], tuple[int, str]] = {
    ("host.yml", "MemoryPressure", 12): (
        -2,
        "rate() of a counter younger than its window: Prometheus extrapolates over the whole window and ramps up "
        "over the first minutes; MetricsQL divides by the time the samples cover and has the full rate at once",
    ),
    ("outages.yml", "BlockchainChainOutage", 9): (
        -1,
        "a sample exactly 5m old: Prometheus 2.x range windows include their left edge, MetricsQL's (and "
        "Prometheus 3's) do not; samples aligned to the evaluation time exist in unit tests, not in scrapes",
    ),
}

_LOOKBACK = re.compile(r"\[(\d+[dhms])(?::\d*[dhms]?)?\]|offset (\d+[dhms])")
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|Inf|inf|NaN)"
_ITEM = re.compile(rf"^(?P<a>{_NUMBER})(?:(?P<b>[-+]\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)?x(?P<n>\d+))?$")
_BLANKS = re.compile(r"^_(?:x(?P<n>\d+))?$")


def minutes(duration: str) -> int:
    """A promtool duration (`10m`, `1h30m`, `90s` as whole minutes) in minutes."""
    seconds = parse_duration(duration)
    if seconds % 60:
        raise ValueError(f"duration {duration!r} is not whole minutes")
    return int(seconds // 60)


def longest_lookback() -> int:
    """Minutes the rules can look back: their longest range window plus their longest offset."""
    windows, offsets = [0], [0]
    for path in RULE_FILES:
        for window, offset in _LOOKBACK.findall(path.read_text()):
            (windows if window else offsets).append(minutes(window or offset))
    return max(windows) + max(offsets)


def expand(values: str) -> list[float | str | None]:
    """promtool's series notation, one entry per interval: a float, None for `_`, STALE for `stale`.

    As in Prometheus 2.42 (promql/parser/generated_parser.y): `axn` and `a+bxn` give n+1 values,
    `_xn` gives n blanks, `_` one blank, `stale` a staleness marker.
    """
    out: list[float | str | None] = []
    for token in values.split():
        if token == STALE:
            out.append(STALE)
            continue
        if blanks := _BLANKS.match(token):
            out.extend([None] * int(blanks["n"] or 1))
            continue
        item = _ITEM.match(token)
        if item is None:
            raise ValueError(f"cannot read {token!r} in series values {values!r}")
        a = float(item["a"])
        if item["n"] is None:
            out.append(a)
            continue
        b = float(item["b"] or 0)
        out.extend(a + i * b for i in range(int(item["n"]) + 1))
    return out


def parse_series(series: str) -> dict[str, str]:
    """`name{a="b", ...}` as a label dict with __name__."""
    families = list(text_string_to_metric_families(f"{series} 0\n"))
    sample = families[0].samples[0]
    return {"__name__": sample.name, **sample.labels}


@dataclass
class Check:
    file: str
    alertname: str
    eval_minute: int
    expected: list[dict[str, str]]


@dataclass
class Case:
    file: str
    index: int
    start: int  # unix seconds of the case's time 0
    series: list[dict[str, Any]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)


def load_cases(base: int) -> list[Case]:
    cases: list[Case] = []
    lookback = longest_lookback()
    for path in RULE_TESTS:
        doc = yaml.safe_load(path.read_text())
        assert minutes(doc.get("evaluation_interval", "1m")) == 1, f"{path.name}: evaluation_interval must be 1m"
        rule_files = sorted((path.parent / f).resolve() for f in doc["rule_files"])
        assert set(rule_files) <= set(RULE_FILES), f"{path.name}: tests other rule files than {RULE_FILES}"
        for i, test in enumerate(doc["tests"]):
            assert minutes(test.get("interval", "1m")) == 1, f"{path.name} test {i}: interval must be 1m"
            case = Case(path.name, i, base + len(cases) * CHUNK_STEPS * STEP)
            for s in test.get("input_series", []):
                case.series.append({"labels": parse_series(s["series"]), "values": expand(str(s["values"]))})
            for t in test.get("alert_rule_test", []):
                expected = [dict(a.get("exp_labels") or {}) for a in t.get("exp_alerts") or []]
                case.checks.append(Check(path.name, t["alertname"], minutes(t["eval_time"]), expected))
            length = max((len(s["values"]) for s in case.series), default=0)
            assert length + lookback < CHUNK_STEPS, f"{path.name} test {i}: {length} samples do not fit a chunk"
            cases.append(case)
    return cases


def import_lines(case: Case) -> Iterator[str]:
    """JSON lines for /api/v1/import. A `stale` entry ends the series there: see docs/scaling.md on staleness."""
    for s in case.series:
        values, stamps = [], []
        for i, v in enumerate(s["values"]):
            if v is None or v == STALE:
                continue
            assert isinstance(v, float) and not math.isnan(v), f"{case.file}: NaN samples are not imported"
            values.append(v)
            stamps.append((case.start + i * STEP) * 1000)
        if values:
            yield json.dumps({"metric": s["labels"], "values": values, "timestamps": stamps})


def rfc3339(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def for_durations() -> dict[str, int]:
    """alertname -> longest `for` in minutes (0 when none of its rules waits)."""
    out: dict[str, int] = {}
    for group in yaml.safe_load(RULE_FILES[1].read_text())["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                out[rule["alert"]] = max(out.get(rule["alert"], 0), minutes(rule.get("for", "0m")))
    return out


@dataclass
class Replay:
    cases: list[Case]
    firing: dict[tuple[str, int], list[dict[str, str]]]  # (alertname, unix seconds) -> firing alerts' labels
    for_minutes: dict[str, int]


def replay(vm: str, rules: Path, start: int, end: int) -> None:
    argv = [
        tool("vmalert"),
        f"-rule={rules}",
        f"-datasource.url={vm}",
        f"-remoteWrite.url={vm}",
        f"-replay.timeFrom={rfc3339(start)}",
        f"-replay.timeTo={rfc3339(end)}",
        f"-replay.maxDatapointsPerQuery={CHUNK_STEPS}",
        "-replay.disableProgressBar",
        "-replay.rulesDelay=0s",  # recording and alerting rules run in two replays, VictoriaMetrics flushed between
        "-datasource.queryStep=0s",  # step = the group's interval (1m); the default 5m would sample every 5th minute
        f"-evaluationInterval={STEP}s",
        "-remoteWrite.flushInterval=200ms",
        "-disableAlertgroupLabel",
        "-loggerLevel=ERROR",
    ]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, f"vmalert replay of {rules.name} failed:\n{result.stdout}\n{result.stderr}"


def flush(vm: str) -> None:
    requests.get(f"{vm}/internal/force_flush", timeout=30).raise_for_status()


@pytest.fixture(scope="module")
def vm_replay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replay]:
    tmp = tmp_path_factory.mktemp("vmalert-replay")
    port = free_port()
    vm = f"http://127.0.0.1:{port}"
    proc = ManagedProcess(
        "victoria-metrics",
        [
            tool("victoria-metrics"),
            f"-storageDataPath={tmp / 'vm'}",
            f"-httpListenAddr=127.0.0.1:{port}",
            "-retentionPeriod=1y",
            "-search.disableCache",  # results are read right after their samples are written
            "-loggerLevel=ERROR",
        ],
        tmp / "victoria-metrics.log",
    ).start()
    try:
        proc.wait_http(f"{vm}/health")
        now = int(datetime.now(UTC).timestamp())
        cases = load_cases(base=(now - 180 * DAY) // DAY * DAY)  # room for ~250 cases within the retention
        end = cases[-1].start + CHUNK_STEPS * STEP
        assert end < now - DAY, f"{len(cases)} test cases do not fit 180 days: move the base back"
        body = "\n".join(line for case in cases for line in import_lines(case)) + "\n"
        requests.post(f"{vm}/api/v1/import", data=body.encode(), timeout=60).raise_for_status()
        flush(vm)
        replay(vm, RULE_FILES[0], cases[0].start, end)
        flush(vm)
        replay(vm, RULE_FILES[1], cases[0].start, end)
        flush(vm)
        export = requests.get(
            f"{vm}/api/v1/export",
            params={"match[]": 'ALERTS{alertstate="firing"}', "start": str(cases[0].start), "end": str(end)},
            timeout=60,
        )
        export.raise_for_status()
        firing: dict[tuple[str, int], list[dict[str, str]]] = {}
        for line in export.text.splitlines():
            row = json.loads(line)
            labels = {k: v for k, v in row["metric"].items() if k not in ("__name__", "alertstate")}
            for ts in sorted(set(row["timestamps"])):
                firing.setdefault((labels["alertname"], ts // 1000), []).append(labels)
        yield Replay(cases, firing, for_durations())
    finally:
        proc.stop()


def _key(labels: dict[str, str]) -> str:
    return json.dumps(labels, sort_keys=True)


def mismatches(r: Replay) -> list[str]:
    out = []
    for case in r.cases:
        for check in case.checks:
            shift, _ = EXCEPTIONS.get((check.file, check.alertname, check.eval_minute), (0, ""))
            ts = case.start + (check.eval_minute + shift) * STEP
            got = r.firing.get((check.alertname, ts), [])
            if check.eval_minute == 0 and r.for_minutes.get(check.alertname, 0) > 0:
                got = []  # the previous chunk's last step; a rule with `for` cannot fire at time 0
            want = [{"alertname": check.alertname, **e} for e in check.expected]
            if sorted(map(_key, got)) != sorted(map(_key, want)):
                out.append(
                    f"{case.file} test {case.index}: {check.alertname} at {check.eval_minute}m{shift:+d}m:\n"
                    f"  promtool expects {sorted(map(_key, want))}\n  vmalert fired   {sorted(map(_key, got))}"
                )
    return out


def test_every_promtool_alert_fires_through_vmalert_with_the_same_labels(vm_replay: Replay) -> None:
    checks = [c for case in vm_replay.cases for c in case.checks]
    # Every alert of rules/alerts.yml is expected to fire somewhere, so every one is proven to fire here.
    assert {c.alertname for c in checks if c.expected} == set(vm_replay.for_minutes)
    assert len(checks) >= 90
    problems = mismatches(vm_replay)
    assert not problems, f"{len(problems)} of {len(checks)} checks differ:\n" + "\n".join(problems)


def test_series_notation_expands_as_promtool_does() -> None:
    assert expand("0+60x2 stale") == [0.0, 60.0, 120.0, STALE]
    assert expand("1x2 _x2 190-1x1") == [1.0, 1.0, 1.0, None, None, 190.0, 189.0]
    assert expand("1e18x1 _ 5 -2") == [1e18, 1e18, None, 5.0, -2.0]
    with pytest.raises(ValueError, match="cannot read 'x3'"):
        expand("x3")
    assert minutes("1h30m") == 90 and minutes("120s") == 2 and minutes("1d") == 1440
    assert longest_lookback() == 6 * 60 + 30  # predict_linear(...[6h]) and `offset 30m`, added up to be safe
