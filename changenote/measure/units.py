"""Units and their dimensions: figures are compared only within one dimension.

A metric's unit is whatever its source said (``ms`` from a probe, ``s`` from a
command's metric line, ``MiB`` typed from a dashboard). Before two runs are compared,
the after-run is converted into the baseline's unit when both units measure the same
dimension (time, size, rate, ratio); across dimensions (milliseconds against a count)
there is no verdict at all. Unknown units compare only with the very same unit.
"""

from __future__ import annotations

from collections.abc import Sequence

#: unit -> (dimension, factor to the dimension's base unit).
_UNITS: dict[str, tuple[str, float]] = {}


def _add(dimension: str, factors: dict[str, float]) -> None:
    for unit, factor in factors.items():
        _UNITS[unit] = (dimension, factor)


_add(
    "time",
    {
        "ns": 1e-9,
        "us": 1e-6,
        "µs": 1e-6,
        "μs": 1e-6,
        "ms": 1e-3,
        "s": 1.0,
        "sec": 1.0,
        "min": 60.0,
        "h": 3600.0,
    },
)
# kB, MB, GB are decimal (SI); KiB, MiB, GiB binary; "KB" is binary as JEDEC has it.
_add(
    "size",
    {
        "B": 1.0,
        "kB": 1e3,
        "KB": 1024.0,
        "KiB": 1024.0,
        "MB": 1e6,
        "MiB": 1024.0**2,
        "GB": 1e9,
        "GiB": 1024.0**3,
    },
)
_add("rate", {"/s": 1.0, "per s": 1.0, "rps": 1.0, "/min": 1 / 60, "per min": 1 / 60})
_add("ratio", {"ratio": 1.0, "%": 0.01, "percent": 0.01})
# A plain number and a count are both dimensionless.
_add("count", {"count": 1.0, "": 1.0})


def dimension(unit: str | None) -> str | None:
    """The dimension a unit measures (``time``, ``size``, ``rate``, ``ratio``, ``count``);
    None for a unit changenote does not know (it compares only with itself)."""
    known = _UNITS.get((unit or "").strip())
    return known[0] if known else None


def factor(source: str, target: str) -> float | None:
    """The factor that turns figures in ``source`` into ``target``; None when the two
    units do not measure the same dimension (or either is unknown and they differ)."""
    source, target = (source or "").strip(), (target or "").strip()
    if source == target:
        return 1.0
    a, b = _UNITS.get(source), _UNITS.get(target)
    if a is None or b is None or a[0] != b[0]:
        return None
    return a[1] / b[1]


def convert(values: Sequence[float], source: str, target: str) -> list[float] | None:
    """``values`` in ``source`` expressed in ``target``; None across dimensions."""
    scale = factor(source, target)
    if scale is None:
        return None
    return [float(v) * scale for v in values] if scale != 1.0 else [float(v) for v in values]


def describe(unit: str | None) -> str:
    """A unit for a sentence: ``ms``, or ``no unit``."""
    return unit.strip() if unit and unit.strip() else "no unit"
