"""The collectors that used to build client_python families write exactly what those families wrote."""

from __future__ import annotations

import collections
import platform
from collections.abc import Iterator
from pathlib import Path

import prometheus_client
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client import Histogram as ClientHistogram
from prometheus_client.exposition import generate_latest as client_text
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.openmetrics.exposition import generate_latest as client_openmetrics

from exporters import __version__
from exporters.blockchain.collector import EndpointCollector, RpcCollector
from exporters.blockchain.readings import RPC_DURATION_BOUNDS, EndpointState, EndpointStats, Readings
from exporters.business.exporter import BusinessExporter, _SelfMetrics
from exporters.business.sql import QueryState
from exporters.business.store import COMMIT_BOUNDS
from exporters.config import parse_config
from exporters.core.collect import BuildInfo
from exporters.core.exposition import _Families, encode_openmetrics, encode_text

# Values on a bound, between bounds and beyond the last one.
SECONDS = [0.0004, 0.001, 0.003, 0.01, 0.2, 0.2, 1.0, 7.5, 12.0]


@pytest.fixture
def no_created_samples() -> Iterator[None]:
    """client_python's own histograms add _created samples, which no MetricFamily writes."""
    prometheus_client.disable_created_metrics()
    yield
    prometheus_client.enable_created_metrics()


def assert_same_bytes(ours: list[Metric], reference: list[Metric] | CollectorRegistry) -> None:
    ref = reference if isinstance(reference, CollectorRegistry) else _Families(reference)
    assert encode_text(ours) == client_text(ref)
    assert encode_openmetrics(ours) == client_openmetrics(ref)


def by_name(families: list[Metric], name: str) -> Metric:
    return next(f for f in families if f.name == name)


def test_build_info() -> None:
    reference = GaugeMetricFamily(
        "alismon_build_info",
        "A metric with a constant '1' value labeled by exporter, version and Python version.",
        labels=["exporter", "version", "python_version"],
    )
    reference.add_metric(["business", __version__, platform.python_version()], 1.0)
    assert_same_bytes(list(BuildInfo("business").collect()), [reference])


def test_blockchain_client_info_and_rpc_durations(no_created_samples: None) -> None:
    readings = Readings()
    state = EndpointState("dev", "a", trusted=True, client_version='anvil/v1.7.1 "quoted"')
    readings.endpoints.append(state)
    registry = CollectorRegistry(auto_describe=False)
    reference = ClientHistogram(
        "blockchain_rpc_request_duration_seconds",
        "Duration of JSON-RPC round trips; method is 'batch' for a batched request.",
        ["chain", "endpoint", "method"],
        registry=registry,
        buckets=RPC_DURATION_BOUNDS.upper,
    )
    stats = EndpointStats(readings, state)
    for method in ("batch", "eth_chainId"):
        for seconds in SECONDS:
            stats.observe_request(method, seconds)
            reference.labels("dev", "a", method).observe(seconds)
    durations = by_name(list(RpcCollector(readings).collect()), "blockchain_rpc_request_duration_seconds")
    assert_same_bytes([durations], registry)

    info = InfoMetricFamily("blockchain_client", "Client software of the endpoint.", labels=["chain", "endpoint"])
    info.add_metric(["dev", "a"], {"client_version": 'anvil/v1.7.1 "quoted"'})
    assert_same_bytes([by_name(list(EndpointCollector(readings).collect()), "blockchain_client")], [info])


def test_business_self_metrics(tmp_path: Path, no_created_samples: None) -> None:
    config = parse_config(
        {
            "business": {
                "auth_token": "t",
                "store": {"path": str(tmp_path / "s.sqlite")},
                "events": {
                    "claims": {
                        "kind": "counter",
                        "metric": "app_claims_total",
                        "labels": {"type": {"max_values": 5}, "status": ["ok"]},
                    }
                },
            }
        }
    ).business
    exporter = BusinessExporter(config)
    stats = exporter.store.stats
    stats.commits, stats.committed_events, stats.duplicates, stats.errors = 12, 3400, 5, 1
    exporter.rejections.update({"bad_json": 2, "cardinality_cap": 1})
    exporter.store._labels = {("claims", "type"): {"a", "b"}}
    registry = CollectorRegistry(auto_describe=False)
    commit = ClientHistogram(
        "business_store_commit_duration_seconds",
        "Time a group commit took, fsync included.",
        registry=registry,
        buckets=COMMIT_BOUNDS.upper,
    )
    for seconds in SECONDS:
        stats.commit_seconds.observe(seconds)
        commit.observe(seconds)
    ours = list(_SelfMetrics(exporter).collect())
    assert_same_bytes([by_name(ours, "business_store_commit_duration_seconds")], registry)

    rejected = CounterMetricFamily("business_events_rejected", "Requests refused, by reason.", labels=["reason"])
    rejected.add_metric(["bad_json"], 2)
    rejected.add_metric(["cardinality_cap"], 1)
    values = GaugeMetricFamily(
        "business_label_values", "Distinct values a capped label has taken.", labels=["event", "label"]
    )
    values.add_metric(["claims", "type"], 2)
    limit = GaugeMetricFamily(
        "business_label_values_limit", "The cap on a label's distinct values.", labels=["event", "label"]
    )
    limit.add_metric(["claims", "type"], 5)
    reference = [
        rejected,
        CounterMetricFamily("business_events_accepted", "Events durably stored and counted.", value=3400),
        CounterMetricFamily(
            "business_events_duplicate", "Events acknowledged again without counting (a retried id).", value=5
        ),
        CounterMetricFamily("business_store_commits", "Group commits to the event store.", value=12),
        CounterMetricFamily("business_store_errors", "Failed commits to the event store.", value=1),
        GaugeMetricFamily(
            "business_store_writable",
            "1 while the event store takes commits; 0 from a failed commit until a write succeeds again.",
            value=1,
        ),
        values,
        limit,
    ]
    assert_same_bytes([f for f in ours if f.name != "business_store_commit_duration_seconds"], reference)


def test_business_sql_gauges(tmp_path: Path) -> None:
    config = parse_config(
        {
            "business": {
                "auth_token": "t",
                "store": {"path": str(tmp_path / "s.sqlite")},
                "sql_sources": [
                    {
                        "name": "app",
                        "url": f"sqlite:///{tmp_path / 'app.db'}",
                        "queries": [
                            {"name": "pending", "metric": "app_pending", "sql": "SELECT 1 AS value"},
                            {
                                "name": "by_type",
                                "metric": "app_by_type",
                                "help": "Rows by type.",
                                "sql": "SELECT t, n AS value FROM x",
                                "label_columns": ["t"],
                            },
                        ],
                    }
                ],
            }
        }
    ).business
    sql = BusinessExporter(config).sql
    sql.states[("app", "pending")] = QueryState(False, 0.25, None, [], collections.Counter({"timeout": 2}))
    sql.states[("app", "by_type")] = QueryState(True, 0.003, 1.7e9, [(("a",), 1e6), (("b\n",), 0.5)])
    labels = ["source", "query"]
    success = GaugeMetricFamily(
        "business_sql_query_success", "Whether the last run of a SQL source query succeeded (1) or not.", labels=labels
    )
    duration = GaugeMetricFamily(
        "business_sql_query_duration_seconds", "How long the last run of a SQL source query took.", labels=labels
    )
    last = GaugeMetricFamily(
        "business_sql_query_last_success_timestamp_seconds",
        "Unix time of the last successful run of a SQL source query.",
        labels=labels,
    )
    errors = CounterMetricFamily(
        "business_sql_query_errors",
        "Failed runs of a SQL source query, by reason (connect, timeout, query, result).",
        labels=[*labels, "reason"],
    )
    pending = GaugeMetricFamily("app_pending", "Query pending of SQL source app.", labels=[])
    by_type = GaugeMetricFamily("app_by_type", "Rows by type.", labels=["t"])
    success.add_metric(["app", "pending"], 0.0)
    duration.add_metric(["app", "pending"], 0.25)
    errors.add_metric(["app", "pending", "timeout"], 2)
    success.add_metric(["app", "by_type"], 1.0)
    duration.add_metric(["app", "by_type"], 0.003)
    last.add_metric(["app", "by_type"], 1.7e9)
    by_type.add_metric(["a"], 1e6)
    by_type.add_metric(["b\n"], 0.5)
    ours = list(sql.collect())
    assert [f.name for f in ours][-2:] == ["app_pending", "app_by_type"]
    assert_same_bytes(ours, [success, duration, last, errors, pending, by_type])
