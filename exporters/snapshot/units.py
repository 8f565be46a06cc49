"""Values in a panel's unit (Grafana's fieldConfig unit ids) and nice axis ticks."""

from __future__ import annotations

import math
import time

_IEC = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
_SI = ("", "k", "M", "G", "T", "P")
_RATES = {"ops": " ops/s", "reqps": " req/s", "pps": " p/s", "Bps": "B/s", "bps": "b/s"}


def scale(unit: str, magnitude: float) -> tuple[float, str]:
    """(divisor, suffix) that shows numbers around `magnitude` in `unit` readably."""
    magnitude = abs(magnitude)
    if unit == "percentunit":
        return 0.01, "%"
    if unit == "percent":
        return 1, "%"
    if unit == "bytes":
        i = 0 if magnitude < 1 else min(int(math.log(magnitude, 1024)), len(_IEC) - 1)
        return 1024.0**i, " " + _IEC[i]
    if unit == "s":
        for divisor, suffix in ((86400, " d"), (3600, " h"), (60, " min"), (1, " s")):
            if magnitude >= divisor * (2 if divisor > 1 else 1):
                return divisor, suffix
        return (0.001, " ms") if magnitude >= 0.001 else (1e-6, " µs")
    if unit.startswith("suffix:"):
        return 1, unit.removeprefix("suffix:")
    if unit in ("none", "bool_yes_no"):
        return 1, ""
    # short, decbytes and the per-second rates: SI prefixes (1.2k, 3.4 MB/s, 5.6k req/s)
    i = 0 if magnitude < 1000 else min(int(math.log10(magnitude) // 3), len(_SI) - 1)
    if unit in ("decbytes", "Bps", "bps"):
        return 1000.0**i, f" {_SI[i]}{'B' if unit == 'decbytes' else _RATES[unit]}"
    return 1000.0**i, _SI[i] + _RATES.get(unit, "")


def _number(x: float, decimals: int | None, strip: bool) -> str:
    if decimals is None:  # three significant digits, more for small values (0.0003 gwei is not 0)
        decimals = 0 if abs(x) >= 100 or x == int(x) else 1 if abs(x) >= 10 else 2
        if 0 < abs(x) < 0.01:
            decimals = min(8, 1 - math.floor(math.log10(abs(x))))
    text = f"{x:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if strip and "." in text else text


def fmt_value(
    value: float, unit: str, decimals: int | None = None, magnitude: float | None = None, strip: bool = True
) -> str:
    """One value for a reader: '12.5%', '3 GiB', '4.2 ms', '25.3 gwei', 'yes'."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if unit == "bool_yes_no":
        return "yes" if value else "no"
    divisor, suffix = scale(unit, value if magnitude is None else magnitude)
    return f"{_number(value / divisor, decimals, strip)}{suffix}".replace("  ", " ")


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About `count` round values enclosing lo..hi (1, 2, 2.5 or 5 times a power of ten apart)."""
    raw = (hi - lo) / max(count - 1, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    # The ticks enclose lo..hi, so the first and last can bound the chart.
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [i * step for i in range(first, max(last, first + 1) + 1)]


def axis_ticks(lo: float, hi: float, unit: str, count: int = 5) -> list[tuple[float, str]]:
    """(value, label) ticks covering lo..hi, round in the unit's shown scale (0.5 GiB, not 0.47 GiB)."""
    magnitude = max(abs(lo), abs(hi))
    divisor, _ = scale(unit, magnitude)
    ticks = nice_ticks(lo / divisor, hi / divisor, count)
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    decimals = next((d for d in range(7) if abs(step * 10**d - round(step * 10**d)) < 1e-6), 6)
    return [(t * divisor, fmt_value(t * divisor, unit, decimals, magnitude, strip=False)) for t in ticks]


_TIME_STEPS = (10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def time_ticks(start: float, end: float, count: int = 6) -> list[tuple[float, str]]:
    """Round UTC times between start and end with HH:MM (or HH:MM:SS) labels."""
    span = max(end - start, 1)
    step = next((s for s in _TIME_STEPS if span / s <= count), _TIME_STEPS[-1])
    fmt = "%H:%M:%S" if step < 60 else "%H:%M"
    first = math.ceil(start / step) * step
    return [(t, time.strftime(fmt, time.gmtime(t))) for t in range(int(first), int(end) + 1, step)]
