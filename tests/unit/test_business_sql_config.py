"""business.sql_sources: errors name the key path and the problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from exporters.config import parse_config
from exporters.core.errors import ConfigError


def problems(*sources: dict[str, Any], **business: Any) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config({"business": {"sql_sources": list(sources), **business}})
    return info.value.problems


def src(name: str = "app", url: str | None = "sqlite:///app.db", **extra: Any) -> dict[str, Any]:
    queries = extra.pop("queries", [{"name": "q", "metric": "app_pending", "sql": "SELECT 1 AS value"}])
    return {"name": name, "url": url, "queries": queries, **extra}


def test_a_valid_source() -> None:
    config = parse_config({"business": {"sql_sources": [src(interval="30s", timeout="2s")]}}).business
    source = config.sql_sources[0]
    assert (source.interval, source.timeout, source.driver) == (30.0, 2.0, "sqlite")
    assert source.queries[0].max_rows == 1000 and source.queries[0].value_column == "value"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("mysql://db/app", "the url must start with sqlite://, postgres:// or postgresql://, not 'mysql':"),
        ("sqlite://app.db", "a SQLite url is sqlite:///relative/path.db or sqlite:////absolute/path.db"),
        ("sqlite:///", "a SQLite url is sqlite:///relative/path.db or sqlite:////absolute/path.db"),
        ("sqlite:///:memory:", "a SQLite url names a database file, without query parameters"),
        ("sqlite:///app.db?mode=rw", "a SQLite url names a database file, without query parameters"),
    ],
)
def test_bad_urls(url: str, problem: str) -> None:
    errs = problems(src(url=url))
    assert len(errs) == 1 and errs[0].startswith(f"business.sql_sources[0]: {problem}"), errs


def test_url_from_file_and_never_both(tmp_path: Path) -> None:
    secret = tmp_path / "url"
    secret.write_text("postgresql://monitor:pw@db/app\n")
    config = parse_config({"business": {"sql_sources": [src(url=None, url_file=str(secret))]}})
    assert config.business.sql_sources[0].driver == "postgres"
    secret.write_text("oracle://monitor:pw@db/app\n")
    errs = problems(src(url=None, url_file=str(secret)))
    assert errs == [
        "business.sql_sources[0]: the url must start with sqlite://, postgres:// or postgresql://, not 'oracle':"
    ]
    assert "pw" not in errs[0]
    assert problems(src(url_file=str(secret))) == ["business.sql_sources[0]: set either url or url_file, not both"]
    assert problems(src(url=None)) == ["business.sql_sources[0]: set url or url_file"]


def test_duplicate_metrics_and_names() -> None:
    q = {"name": "q", "metric": "app_pending", "sql": "SELECT 1 AS value"}
    assert problems(src("a", queries=[q]), src("b", queries=[{**q}])) == [
        "business: sql_sources[1].queries[0].metric: metric 'app_pending' is already used by sql_sources[0].queries[0]"
    ]
    clash = {**q, "metric": "business_claims_total"}
    errs = problems(src(queries=[clash]))
    assert errs == [
        "business.sql_sources[0].queries[0].metric: 'business_claims_total' is not a usable gauge name "
        "(reserved prefix or counter/histogram suffix)"
    ]
    event = {
        "claims": {"kind": "counter", "metric": "app_claims_total"},
        "pending": {"kind": "histogram", "metric": "app_pending"},
    }
    assert problems(src(queries=[q]), events=event) == [
        "business: sql_sources[0].queries[0].metric: metric 'app_pending' is already used by events.pending"
    ]
    assert problems(src("a"), src("a")) == ["business: sql_sources: source names must be unique, repeated: a"]
    assert problems(src(queries=[q, {**q, "metric": "app_other"}])) == [
        "business.sql_sources[0].queries: query names must be unique within a source, repeated: q"
    ]


def test_query_fields() -> None:
    q = {"name": "q", "metric": "app_pending", "sql": "SELECT 1"}
    assert problems(src(queries=[{**q, "label_columns": ["type", "type"]}])) == [
        "business.sql_sources[0].queries[0].label_columns: label columns must be unique, repeated: type"
    ]
    assert problems(src(queries=[{**q, "label_columns": ["value"]}])) == [
        "business.sql_sources[0].queries[0]: value_column 'value' is also a label column"
    ]
    assert problems(src(queries=[{**q, "label_columns": ["bad-name"]}]))[0].startswith(
        "business.sql_sources[0].queries[0].label_columns[0]: String should match pattern"
    )
    assert problems(src(queries=[{**q, "max_rows": 0}])) == [
        "business.sql_sources[0].queries[0].max_rows: Input should be greater than or equal to 1"
    ]
    assert problems(src(queries=[{**q, "colour": "red"}])) == ["business.sql_sources[0].queries[0].colour: unknown key"]
    assert problems(src(queries=[])) == [
        "business.sql_sources[0].queries: List should have at least 1 item after validation, not 0"
    ]
    assert problems(src(timeout="0s")) == ["business.sql_sources[0]: interval and timeout must be positive"]


def test_reserved_label_names_are_refused_with_their_key_path() -> None:
    q = {"name": "q", "metric": "app_pending", "sql": "SELECT 1", "label_columns": ["__a"]}
    assert problems(src(queries=[q])) == [
        "business.sql_sources[0].queries[0].label_columns[0]: label name '__a': names starting with __ are reserved"
        " for Prometheus"
    ]
