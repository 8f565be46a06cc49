"""Typed fields and checks that several config sections share, each defined once."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Annotated

from pydantic import AfterValidator, Field

LABEL_NAME = r"^[a-zA-Z_][a-zA-Z0-9_]{0,63}$"
METRIC_NAME = r"^[a-zA-Z_:][a-zA-Z0-9_:]*$"

# Networks, endpoints, watched accounts and contracts, remote-write stores: short, lower case, label-safe.
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,39}$")]
# Notification channels (Alertmanager receiver names).
ChannelName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]
# Business event types and SQL sources and queries: they become parts of metric names.
EventName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
MetricName = Annotated[str, Field(pattern=METRIC_NAME)]


def _not_reserved(name: str) -> str:
    if name.startswith("__"):
        raise ValueError(f"label name {name!r}: names starting with __ are reserved for Prometheus")
    return name


LabelName = Annotated[str, Field(pattern=LABEL_NAME), AfterValidator(_not_reserved)]
JobName = Annotated[str, Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_:.-]*$")]
HttpUrl = Annotated[str, Field(pattern=r"^https?://")]
EthAddress = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{40}$")]


def unique(values: Iterable[str], what: str, scope: str = "") -> None:
    """Raise `<what> must be unique [scope], repeated: a, b` when a value occurs more than once."""
    dupes = sorted(v for v, n in Counter(values).items() if n > 1)
    if dupes:
        raise ValueError(f"{what} must be unique{' ' + scope if scope else ''}, repeated: {', '.join(dupes)}")


def _check_target_labels(labels: dict[str, str]) -> dict[str, str]:
    bad = sorted(k for k in labels if not re.match(LABEL_NAME, k) or k.startswith("__"))  # dict keys: checked here
    if bad:
        raise ValueError(f"not usable as Prometheus label names: {', '.join(bad)}")
    reserved = sorted({"job", "instance", "shard", "replica"} & set(labels))
    if reserved:
        raise ValueError(f"labels set by Prometheus or the sharding: {', '.join(reserved)}")
    return labels


# Labels put on scrape targets: valid Prometheus names, none that Prometheus or the sharding set.
TargetLabels = Annotated[dict[str, str], AfterValidator(_check_target_labels)]
