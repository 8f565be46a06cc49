"""A request body decoded and validated in one pass in C (msgspec), for bodies with nothing wrong.

parse_event (Python, per field) stays the reference: it alone names what is wrong. This decoder
is built from the same config as a stricter schema, one struct per event type tagged by `type`,
so a body it accepts gives exactly the events parse_event gives, and a body it refuses for any
reason (bad JSON, an unknown field, a label out of its allow-list, a number out of range, ...)
goes to the reference path, which refuses it with the precise message. At full ingest rate
this replaces ~1.75 µs per event (orjson and the Python validator) with ~0.75 µs, half of it
building the Event tuples.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

import msgspec

from exporters.business.events import MAX_ID_LENGTH, Event, lowest_value, new_event
from exporters.config.business import BusinessConfig, EventType

_LARGEST = 1.7976931348623157e308  # the largest finite float: bounds make inf and overflowing literals fail


def _number(low: float) -> Any:
    return Annotated[float, msgspec.Meta(ge=max(low, -_LARGEST), le=_LARGEST)]


def _label_type(allowed: list[str] | None, longest: int) -> Any:
    if allowed is None:
        return Annotated[str, msgspec.Meta(min_length=1, max_length=longest)]
    # parse_event checks the length before the allow-list: an allowed value too long stays refused.
    fitting = tuple(v for v in allowed if 0 < len(v) <= longest)
    return Literal[fitting] if fitting else Annotated[str, msgspec.Meta(min_length=1, max_length=0)]


def _event_struct(name: str, spec: EventType, config: BusinessConfig) -> type[msgspec.Struct]:
    longest = config.limits.max_label_value_length
    # Fields named by position and renamed to the label: a label may be a Python keyword.
    labels = msgspec.defstruct(
        f"{name}_labels",
        [(f"l{i}", _label_type(rule.values, longest)) for i, rule in enumerate(spec.labels.values())],
        rename={f"l{i}": label for i, label in enumerate(spec.labels)},
        forbid_unknown_fields=True,
        frozen=True,
    )
    value: tuple[str, Any] | tuple[str, Any, Any] = (
        ("value", _number(lowest_value(spec)))
        if spec.observes_value
        else ("value", _number(0.0) | msgspec.UnsetType, msgspec.UNSET)
    )
    label_field: tuple[str, Any] | tuple[str, Any, Any] = (
        ("labels", labels) if spec.labels else ("labels", labels, msgspec.field(default_factory=labels))
    )
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = [
        label_field,
        value,
        ("id", Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)] | None, None),
        ("timestamp", _number(-_LARGEST) | msgspec.UnsetType, msgspec.UNSET),
    ]
    return msgspec.defstruct(
        f"{name}_event", fields, tag_field="type", tag=name, forbid_unknown_fields=True, kw_only=True
    )


class FastDecoder:
    """decode(raw, now): the events of a body with nothing wrong, or None to use the reference path."""

    def __init__(self, config: BusinessConfig) -> None:
        self._kinds: dict[type[msgspec.Struct], str] = {
            _event_struct(name, spec, config): name for name, spec in config.events.items()
        }
        one = Union[tuple(self._kinds)] if self._kinds else None  # noqa: UP007 (a runtime tuple of types)
        batch = Annotated[list[one], msgspec.Meta(min_length=1, max_length=config.limits.max_batch_events)]  # type: ignore[valid-type]
        self._decoder = msgspec.json.Decoder(Union[batch, one]) if one is not None else None  # noqa: UP007
        self._max_skew = config.limits.max_clock_skew

    def decode(self, raw: bytes, now: float) -> list[Event] | None:
        if self._decoder is None:
            return None
        try:
            decoded = self._decoder.decode(raw)
        except msgspec.DecodeError:  # ValidationError is one
            return None
        kinds, latest, unset, astuple = self._kinds, now + self._max_skew, msgspec.UNSET, msgspec.structs.astuple
        events = []
        for event in decoded if type(decoded) is list else [decoded]:
            value, timestamp = event.value, event.timestamp
            if timestamp is unset:
                timestamp = now
            elif timestamp > latest:  # too far in the future: the reference path says so
                return None
            events.append(
                new_event(
                    Event,
                    (
                        kinds[type(event)],
                        astuple(event.labels),
                        1.0 if value is unset else value,
                        event.id,
                        timestamp,
                    ),
                )
            )
        return events
