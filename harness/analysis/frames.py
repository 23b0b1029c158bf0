"""Typed DataFrames of attempt records and target resource samples (pure: rows in, frames out).

Every column is present whatever the rows hold (missing keys are NA, unknown keys dropped),
with one dtype per column, so the computations downstream never guess. The run loader
(:mod:`harness.analysis.run`) builds these from the run directory and adds the columns
computed once per run (``t_s``, ``end_s``, ``phase``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from harness.rundir.records import RECORD_FIELDS

# --- Column types -----------------------------------------------------------------------

#: Text columns of attempts (pandas ``string`` dtype, missing values are ``<NA>``).
ATTEMPT_TEXT_COLUMNS: tuple[str, ...] = (
    "run_id",
    "worker",
    "token_kind",
    "placement",
    "expected",
    "outcome",
    "verdict",
    "manner",
    "stage",
    "close_reason",
    "closed_by",
    "gave_up",
    "violation",
    "error",
    "load_stage",
    "session",
    "transport",
    "connect_error",
)

#: Integer columns of attempts (nullable ``Int64``).
ATTEMPT_INT_COLUMNS: tuple[str, ...] = (
    "user",
    "attempt",
    "http_status",
    "close_code",
    "client_close_code",
    "msgs_sent",
    "msgs_recv",
    "msgs_unmatched",
    "pings",
    "session_attempt",
    "client_pings",
)

#: Float columns of attempts (``float64``, missing values are NaN): epoch seconds
#: (``t_start``), milliseconds (``*_ms``) and seconds (``open_s``).
ATTEMPT_FLOAT_COLUMNS: tuple[str, ...] = (
    "t_start",
    "connect_ms",
    "handshake_ms",
    "tls_ms",
    "open_s",
    "rtt_ms_avg",
    "rtt_ms_max",
    "reconnect_delay_s",
    "t_end",
    "token_exp",
    "ping_rtt_ms_avg",
    "ping_rtt_ms_max",
)

#: Columns of ``samples.jsonl``: ``t`` epoch seconds, CPU percent (one core = 100),
#: resident memory in MB, open file descriptors, connections and threads of the target.
SAMPLE_FLOAT_COLUMNS: tuple[str, ...] = ("t", "cpu_percent", "rss_mb")
SAMPLE_INT_COLUMNS: tuple[str, ...] = ("fds", "connections", "threads")
SAMPLE_COLUMNS: tuple[str, ...] = SAMPLE_FLOAT_COLUMNS + SAMPLE_INT_COLUMNS


def _typed_frame(
    rows: list[dict[str, Any]],
    columns: Iterable[str],
    *,
    text: Iterable[str] = (),
    ints: Iterable[str] = (),
    floats: Iterable[str] = (),
) -> pd.DataFrame:
    """A DataFrame with exactly ``columns`` (missing keys become NA), cast to their dtypes."""
    df = pd.DataFrame(rows, columns=list(columns))
    for name in floats:
        df[name] = pd.to_numeric(df[name], errors="coerce").astype("float64")
    for name in ints:
        # Through float first: a stray 1.0 or "7" must not break the cast to Int64.
        numbers = pd.to_numeric(df[name], errors="coerce").astype("float64").round()
        df[name] = numbers.astype("Int64")
    for name in text:
        df[name] = df[name].astype("object").where(df[name].notna(), None).astype("string")
    return df


def _as_str_list(value: object) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return []


def attempts_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Attempt records (dicts with AttemptRecord fields) as a typed DataFrame.

    Every AttemptRecord column is present, whatever the rows hold (missing keys are
    NA, unknown keys dropped): text columns are ``string``, counts and codes ``Int64``
    (nullable), times and durations ``float64`` (``t_start`` in epoch seconds, ``*_ms``
    in milliseconds, ``open_s`` in seconds), and ``chaos`` holds a list of fault names.
    """
    df = _typed_frame(
        [r if isinstance(r, dict) else dict(r) for r in rows],
        RECORD_FIELDS,
        text=ATTEMPT_TEXT_COLUMNS,
        ints=ATTEMPT_INT_COLUMNS,
        floats=ATTEMPT_FLOAT_COLUMNS,
    )
    df["chaos"] = pd.Series([_as_str_list(v) for v in df["chaos"]], index=df.index, dtype=object)
    return df


def samples_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Target resource samples as a typed DataFrame, sorted by time.

    Columns: ``t`` (epoch seconds), ``cpu_percent`` (percent, one core = 100),
    ``rss_mb`` (MB) as ``float64``; ``fds``, ``connections``, ``threads`` as ``Int64``.
    Rows without a time are dropped.
    """
    df = _typed_frame(
        [dict(r) for r in rows],
        SAMPLE_COLUMNS,
        ints=SAMPLE_INT_COLUMNS,
        floats=SAMPLE_FLOAT_COLUMNS,
    )
    return df.dropna(subset=["t"]).sort_values("t").reset_index(drop=True)
