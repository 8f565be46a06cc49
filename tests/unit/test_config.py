"""The one config: defaults, interpolation, secrets from files, and errors with key paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporters.config import load_config, parse_config
from exporters.core.errors import ConfigError
from exporters.core.interpolate import interpolate
from exporters.core.types import format_duration, parse_duration

REPO = Path(__file__).resolve().parents[2]


def problems(raw: object) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    return info.value.problems


def test_shipped_config_is_valid() -> None:
    config = load_config(REPO / "config.yml")
    assert config.exporters.system.listen_address == "0.0.0.0:9810"
    assert config.blockchain.networks[0].chain_id == 31337
    assert config.system.filesystem.stat_timeout == 5.0


def test_empty_config_gets_defaults() -> None:
    config = parse_config(None)
    assert config.exporters.business.listen_address == "0.0.0.0:9812"
    assert config.prometheus.scrape_interval == 15.0


def test_interpolation_with_defaults_and_escape() -> None:
    tree, errs = interpolate(
        {"a": "${X}", "b": ["${MISSING:-fallback}", "$${X}"], "c": "pre-${X}-post", "d": 5},
        {"X": "value"},
    )
    assert errs == []
    assert tree == {"a": "value", "b": ["fallback", "${X}"], "c": "pre-value-post", "d": 5}


def test_a_value_that_is_only_an_empty_variable_is_unset(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    tree, errs = interpolate({"a": "${A:-}", "b": "x${A:-}", "c": "${B:-}"}, env={"B": ""})
    assert (tree, errs) == ({"a": None, "b": "x", "c": None}, [])
    # So a config can offer the token both ways and let the environment choose one.
    section = {"auth_token": "${TOKEN:-}", "auth_token_file": "${TOKEN_FILE:-}"}
    tree, errs = interpolate({"business": section}, env={"TOKEN_FILE": str(token)})
    assert errs == [] and parse_config(tree).business.token() == "s3cret"


def test_unset_variable_names_key_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALISMON_TEST_UNSET", raising=False)
    assert problems({"exporters": {"system": {"listen_address": "${ALISMON_TEST_UNSET}"}}}) == [
        "exporters.system.listen_address: environment variable ALISMON_TEST_UNSET is not set"
    ]


def test_interpolated_value_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALISMON_TEST_ADDR", "nonsense")
    errs = problems({"exporters": {"system": {"listen_address": "${ALISMON_TEST_ADDR}"}}})
    assert errs == ["exporters.system.listen_address: 'nonsense' is not host:port with a port from 1 to 65535"]


def test_unknown_keys_refused_at_any_depth() -> None:
    assert problems({"sytem": {}}) == ["sytem: unknown key"]
    assert problems({"system": {"filesystem": {"timeout": "5s"}}}) == ["system.filesystem.timeout: unknown key"]


def _network(name: str, **extra: object) -> dict[str, object]:
    return {
        "name": name,
        "chain_id": 1,
        "endpoints": [{"name": "a", "url": "http://127.0.0.1:8545"}],
        **extra,
    }


def test_list_items_named_by_index() -> None:
    bad = _network("second")
    bad["endpoints"] = [{"name": "a", "url": "ftp://nope"}]
    errs = problems({"blockchain": {"networks": [_network("first"), bad]}})
    assert errs == ["blockchain.networks[1].endpoints[0].url: String should match pattern '^https?://'"]


def test_every_problem_is_reported_once_per_line() -> None:
    errs = problems(
        {
            "prometheus": {"scrape_interval": "fast", "retention": -1},
            "blockchain": {"networks": [{"name": "x", "chain_id": 0, "endpoints": []}]},
        }
    )
    assert "prometheus.scrape_interval: 'fast' is not a duration (use e.g. 15s, 1m, 500ms)" in errs
    assert "prometheus.retention: a duration cannot be negative" in errs
    assert "blockchain.networks[0].chain_id: Input should be greater than 0" in errs
    assert "blockchain.networks[0].endpoints: List should have at least 1 item after validation, not 0" in errs
    assert len(errs) == 4


def test_duplicate_names_refused() -> None:
    errs = problems({"blockchain": {"networks": [_network("a"), _network("a")]}})
    assert errs == ["blockchain.networks: network names must be unique, repeated: a"]


def test_secret_from_file(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("s3cret\n")
    net = _network("a")
    net["endpoints"] = [{"name": "a", "url": "http://x", "bearer_token_file": str(secret)}]
    config = parse_config({"blockchain": {"networks": [net]}})
    assert config.blockchain.networks[0].endpoints[0].bearer_token_file == secret


def test_secret_file_missing_and_both_forms(tmp_path: Path) -> None:
    net = _network("a")
    net["endpoints"] = [{"name": "a", "url": "http://x", "bearer_token_file": str(tmp_path / "nope")}]
    errs = problems({"blockchain": {"networks": [net]}})
    assert errs == [
        f"blockchain.networks[0].endpoints[0]: cannot read bearer_token_file "
        f"'{tmp_path / 'nope'}': No such file or directory"
    ]
    net["endpoints"] = [{"name": "a", "url": "http://x", "bearer_token": "t", "bearer_token_file": "/etc/hostname"}]
    assert problems({"blockchain": {"networks": [net]}}) == [
        "blockchain.networks[0].endpoints[0]: set either bearer_token or bearer_token_file, not both"
    ]


def test_bad_regex_and_process_match() -> None:
    errs = problems({"system": {"network": {"exclude": "(["}, "processes": [{"name": "x", "match": {}}]}})
    assert any(e.startswith("system.network.exclude: invalid regular expression '(['") for e in errs)
    assert "system.processes[0].match: set exactly one of comm, cmdline or pidfile" in errs


def test_top_level_must_be_mapping() -> None:
    assert problems(["a"]) == ["config: the top level must be a mapping of sections"]


@pytest.mark.parametrize(("text", "seconds"), [("15s", 15), ("1m30s", 90), ("500ms", 0.5), (3, 3), ("2h", 7200)])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_duration_formatting_round_trips() -> None:
    for seconds in (0.5, 15, 90, 3600, 86400 * 15):
        assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        (
            "__x",
            "business.events.claims.labels.__x: label name '__x': names starting with __ are reserved for Prometheus",
        ),
        ("le", "business.events.claims: le is the bucket label of histograms, not usable as an event label"),
        ("9lives", "business.events.claims.labels.9lives: String should match pattern '^[a-zA-Z_][a-zA-Z0-9_]{0,63}$'"),
    ],
)
def test_event_label_names_are_checked_with_their_key_path(label: str, expected: str) -> None:
    event = {"kind": "counter", "metric": "app_claims_total", "labels": {label: {"max_values": 3}}}
    assert problems({"business": {"events": {"claims": event}}}) == [expected]
