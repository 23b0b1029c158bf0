"""Numbers read back from JSON (run files, summaries): finite floats or nothing.

A value written by another process, an older version of the harness or a killed run may
be missing, ``null``, ``NaN``, a boolean or text; every reader turns it into a finite
``float`` or ``None`` here, in one way.
"""

from __future__ import annotations

import math
from typing import Any


def rounded(value: float | None, digits: int) -> float | None:
    """``value`` rounded to ``digits`` decimals; None stays None."""
    return None if value is None else round(value, digits)


def finite(value: Any) -> float | None:
    """``value`` as a finite float; None for None, NaN, NA, infinities, booleans and text."""
    if value is None or isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None
