"""Typed DataFrames of attempt records and target resource samples (pure: rows in, frames out).

Every column is present whatever the rows hold (missing keys are NA, unknown keys dropped),
with one dtype per column, so the computations downstream never guess. The run loader
(:mod:`harness.analysis.run`) builds these from the run directory and adds the columns
computed once per run (``t_s``, ``end_s``, ``phase``).

Attempts come either from dicts (:func:`attempts_frame`) or, for a whole ``attempts.jsonl``,
from the Arrow table its columnar reader makes (:data:`ATTEMPT_SCHEMA`,
:func:`attempts_frame_from_table`): the same frame, without a dict per record.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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

#: The other attempt columns: ``chaos`` (a list of window labels) and these flags, kept as
#: the records hold them (``object``: True, False, None where one is unknown or missing).
ATTEMPT_LIST_COLUMNS: tuple[str, ...] = ("chaos",)
ATTEMPT_FLAG_COLUMNS: tuple[str, ...] = ("token_refreshed", "fallback", "upgraded")


def _arrow_type(name: str) -> pa.DataType:
    if name in ATTEMPT_TEXT_COLUMNS:
        return pa.string()
    if name in ATTEMPT_INT_COLUMNS:
        return pa.int64()
    if name in ATTEMPT_FLOAT_COLUMNS:
        return pa.float64()
    if name in ATTEMPT_LIST_COLUMNS:
        return pa.list_(pa.string())
    if name in ATTEMPT_FLAG_COLUMNS:
        return pa.bool_()
    raise ValueError(f"attempt record field {name!r} has no column type in frames.py")


#: The attempt record as Arrow reads ``attempts.jsonl`` (:func:`harness.rundir.jsonl.
#: read_jsonl_table`): a file with a value of another type is read line by line instead.
ATTEMPT_SCHEMA: pa.Schema = pa.schema([(name, _arrow_type(name)) for name in RECORD_FIELDS])

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
    df = pd.DataFrame(rows, columns=list(columns), dtype=object)  # cast below, column by column
    for name in floats:
        df[name] = pd.to_numeric(df[name], errors="coerce").astype("float64")
    for name in ints:
        # Through float first: a stray 1.0 or "7" must not break the cast to Int64.
        numbers = pd.to_numeric(df[name], errors="coerce").astype("float64").round()
        df[name] = numbers.astype("Int64")
    for name in text:
        values = df[name].astype("object").where(df[name].notna(), None)
        try:
            df[name] = values.astype("string")
        except UnicodeEncodeError:  # a lone surrogate (from a \ud800 escape): not UTF-8
            df[name] = values.map(_utf8_text, na_action="ignore").astype("string")
    return df


_SURROGATE = re.compile("[\ud800-\udfff]")


def _utf8_text(value: object) -> str:
    """``value`` as text Arrow can hold: lone surrogates become U+FFFD, as the line reader
    makes of bytes that are not UTF-8."""
    return _SURROGATE.sub("\ufffd", str(value))


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
    for name in ATTEMPT_FLAG_COLUMNS:  # a missing key is None too, not NaN
        flags = df[name].astype(object)
        df[name] = flags.where(flags.notna(), None)
    return df


@contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic garbage collector paused while a million small containers are made: each
    collection it would run meanwhile scans every object already made, which costs more
    than making them (1M lists: 0.9 s against 0.1 s). The objects made hold no cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _lists(column: pa.ChunkedArray) -> list[list[str]]:
    """A list column as Python lists (null: empty), one new list per row."""
    array = column.combine_chunks()
    lengths = pc.fill_null(pc.list_value_length(array), 0).to_numpy(zero_copy_only=False)
    with paused_gc():
        return _split(array, lengths)


def _split(array: pa.ListArray, lengths: np.ndarray[Any, Any]) -> list[list[str]]:
    out: list[list[str]] = [[] for _ in range(len(array))]
    filled = np.flatnonzero(lengths)
    if filled.size:
        values = pc.list_flatten(array.take(pa.array(filled))).to_pylist()
        ends = np.cumsum(lengths[filled]).tolist()
        start = 0
        for row, end in zip(filled.tolist(), ends, strict=True):
            out[row] = values[start:end]
            start = end
    return out


def attempts_frame_from_table(table: pa.Table) -> pd.DataFrame:
    """The :func:`attempts_frame` of the records in an Arrow table of :data:`ATTEMPT_SCHEMA`.

    Each column is converted as :func:`attempts_frame` types it (integers through float64
    and rounded, as there), and freed from the table as it goes, so the table and the frame
    are not both whole in memory. Text columns keep Arrow's buffers (pandas ``string``).
    """
    columns: dict[str, Any] = {}
    for name in RECORD_FIELDS:
        column = table.column(name)
        table = table.drop_columns([name])
        if name in ATTEMPT_TEXT_COLUMNS:
            columns[name] = pd.Series(
                pd.array(column.combine_chunks(), dtype=pd.StringDtype()), copy=False
            )
        elif name in ATTEMPT_INT_COLUMNS:
            numbers = column.to_numpy().astype("float64")  # nulls are NaN
            columns[name] = pd.Series(numbers).round().astype("Int64")
        elif name in ATTEMPT_FLOAT_COLUMNS:
            columns[name] = pd.Series(column.to_numpy().astype("float64"))
        elif name in ATTEMPT_LIST_COLUMNS:
            columns[name] = pd.Series(_lists(column), dtype=object)
        else:  # True, False, None
            flags = column.to_numpy(zero_copy_only=False)
            columns[name] = pd.Series(flags.astype(object), dtype=object)
        del column
    return pd.DataFrame(columns, copy=False)


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
