"""The outcome charts: share of each outcome per token kind and per chaos phase.

Close codes and statuses are named (``closed 1013 try again later``, ``rejected HTTP
503``, ``abnormal closure (1006)``). Colours follow the kind of outcome (green accepted,
blue auth rejections, orange capacity, purple other graceful closes, red abrupt endings,
grey the harness's own), and a hatched segment is an outcome that was not the expected
one for most of its attempts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import pandas as pd
from matplotlib.patches import Patch
from matplotlib.ticker import PercentFormatter

from harness.analysis.sections import ordered_kinds
from harness.protocol.outcomes import (
    ABRUPT_OUTCOMES,
    AUTH_REJECTIONS,
    CLOSE_CODE_NAMES,
    Outcome,
    Verdict,
)
from harness.render.charts.figures import new_figure, no_data, save_png

#: Most outcome labels drawn; the rarest others are merged into "other".
MAX_OUTCOME_LABELS = 12
#: Bar segments at least this wide (% of the bar) carry their label inside.
MIN_LABELLED_PCT = 12.0
OTHER = "other"

_CAPACITY = frozenset(
    {
        Outcome.REJECTED_CAPACITY,
        Outcome.CLOSED_CAPACITY,
        Outcome.CLOSED_TRY_AGAIN,
        Outcome.CONNECT_ERROR_CAPACITY,
        Outcome.EVENT_CAPACITY,
    }
)
#: Grey: the harness's own doing, and the scenario's (its session hook raised).
_HARNESS = frozenset({Outcome.GENERATOR_FAULT, Outcome.INTERRUPTED, Outcome.FLOW_ERROR})

#: Labels of outcomes that carry no close code or status.
_PLAIN_LABELS: Mapping[str, str] = {
    Outcome.ABNORMAL_HANDSHAKE.value: "closed before established (no 101)",
    Outcome.REFUSED.value: "connection refused",
    Outcome.TIMEOUT_CONNECT.value: "timeout: TCP connect",
    Outcome.TIMEOUT_HANDSHAKE.value: "timeout: handshake",
    Outcome.TIMEOUT_SEND.value: "gave up: send (peer not reading)",
    Outcome.TIMEOUT_REPLY.value: "gave up: no reply",
    Outcome.TIMEOUT_MESSAGE.value: "gave up: message never finished",
    Outcome.TIMEOUT_AUTH.value: "gave up: no auth ack",
    Outcome.TIMEOUT_PONG.value: "gave up: no pong (dead connection)",
    Outcome.TIMEOUT_HEARTBEAT.value: "gave up: no Engine.IO ping (dead connection)",
    Outcome.CONNECT_ERROR_AUTH.value: "Socket.IO CONNECT_ERROR: auth",
    Outcome.CONNECT_ERROR_CAPACITY.value: "Socket.IO CONNECT_ERROR: capacity",
    Outcome.CONNECT_ERROR_OTHER.value: "Socket.IO CONNECT_ERROR: other",
    Outcome.SERVER_DISCONNECT.value: "io server disconnect",
    Outcome.EVENT_AUTH.value: "server event: auth",
    Outcome.EVENT_CAPACITY.value: "server event: capacity",
    Outcome.EVENT_OTHER.value: "server event: refusal",
    Outcome.TLS_UNTRUSTED.value: "TLS: certificate from an untrusted CA",
    Outcome.TLS_HOSTNAME.value: "TLS: certificate for another host name",
    Outcome.TLS_EXPIRED.value: "TLS: certificate expired",
    Outcome.LIMIT_EXCEEDED.value: "frame/message over the limit (1009)",
    Outcome.CLOSED_OTHER.value: "closed without a code",
    Outcome.GENERATOR_FAULT.value: "generator fault (harness's own)",
    Outcome.INTERRUPTED.value: "interrupted by the harness",
    Outcome.FLOW_ERROR.value: "session hook raised (the scenario's)",
}


def outcome_label(row: Mapping[Any, Any]) -> str:
    """A readable outcome label that names the close code or HTTP status where one applies.

    E.g. ``closed 4401 unauthorized``, ``closed 1013 try again later``,
    ``rejected HTTP 503``, ``abnormal closure (1006)``, ``accepted``.
    """
    outcome = str(row.get("outcome") or "unknown")
    code = row.get("close_code")
    status = row.get("http_status")
    if outcome.startswith("closed_") and code is not None and not pd.isna(code):
        name = CLOSE_CODE_NAMES.get(int(code), "")
        return f"closed {int(code)} {name}".rstrip()
    if outcome.startswith("rejected_") and status is not None and not pd.isna(status):
        return f"rejected HTTP {int(status)}"
    if outcome == Outcome.ABNORMAL_CLOSURE.value:
        return "abnormal closure (1006)"
    return _PLAIN_LABELS.get(outcome, outcome.replace("_", " "))


def short_label(label: str) -> str:
    """The code, status or first word of an outcome label, to write inside its bar segment.

    ``closed 1013 try again later`` -> ``1013``, ``rejected HTTP 503`` -> ``HTTP 503``,
    ``abnormal closure (1006)`` -> ``1006``, ``closed before established (no 101)`` ->
    ``no 101``, ``accepted`` -> ``accepted``.
    """
    words = label.split()
    if len(words) > 1 and words[0] == "closed" and words[1].isdigit():
        return words[1]
    if "HTTP" in words:
        i = words.index("HTTP")
        return " ".join(words[i : i + 2])
    if label.endswith(")") and "(" in label:
        return label[label.rindex("(") + 1 : -1]
    return words[0] if words else label


def _family(outcome: str) -> str:
    """Colour family of an outcome: a matplotlib sequential colormap name."""
    if outcome == Outcome.ACCEPTED.value:
        return "Greens"
    if outcome in AUTH_REJECTIONS:
        return "Blues"
    if outcome in _CAPACITY:
        return "Oranges"
    if outcome in ABRUPT_OUTCOMES:
        return "Reds"
    if outcome in _HARNESS or outcome == OTHER:
        return "Greys"
    return "Purples"


def outcome_counts(attempts: pd.DataFrame, groups: pd.Series[Any] | None = None) -> pd.DataFrame:
    """Attempts per (``kind``, ``label``): columns ``kind``, ``label``, ``outcome``, ``n``, ``ok``.

    ``kind`` is the row's group: its token kind, or ``groups`` (aligned with
    ``attempts``, e.g. each attempt's chaos phase) when given. ``ok`` is how many of the
    ``n`` attempts had the verdict ok. Labels are computed once per distinct (outcome,
    close code, status), not once per attempt.
    """
    key = attempts["token_kind"] if groups is None else groups
    keys = pd.DataFrame(
        {
            "kind": key.astype(str).to_numpy(),
            "outcome": attempts["outcome"].astype(str).to_numpy(),
            "close_code": attempts["close_code"].astype("Float64").to_numpy(),
            "http_status": attempts["http_status"].astype("Float64").to_numpy(),
            "ok": (attempts["verdict"].astype(str) == Verdict.OK.value).to_numpy(dtype=int),
        }
    )
    cols = ["kind", "outcome", "close_code", "http_status"]
    groups_ = keys.groupby(cols, dropna=False)["ok"].agg(["size", "sum"]).reset_index()
    records = groups_[["outcome", "close_code", "http_status"]].astype(object).to_dict("records")
    groups_["label"] = [outcome_label(r) for r in records]
    out = groups_.groupby(["kind", "label"], as_index=False).agg(
        outcome=("outcome", "first"), n=("size", "sum"), ok=("sum", "sum")
    )
    return out


def outcome_table(
    attempts: pd.DataFrame,
    groups: pd.Series[Any] | None = None,
    order: Sequence[str] | None = None,
    counts: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Share of attempts (0..1) per row (token kind, or group) and outcome label (columns).

    Columns go biggest first; beyond :data:`MAX_OUTCOME_LABELS` labels, the rarest are
    merged into ``other``. Rows follow ``order`` when given (a row of ``order`` without
    attempts is all zeros), else token kinds in :func:`ordered_kinds` order. ``counts``:
    the :func:`outcome_counts` of ``attempts`` and ``groups``, when already computed.
    """
    if attempts.empty:
        return pd.DataFrame()
    if counts is None:
        counts = outcome_counts(attempts, groups)
    counts = counts.pivot_table(
        index="kind", columns="label", values="n", aggfunc="sum", fill_value=0
    )
    labels = [str(c) for c in counts.sum().sort_values(ascending=False).index]
    if len(labels) > MAX_OUTCOME_LABELS:
        keep, rest = labels[: MAX_OUTCOME_LABELS - 1], labels[MAX_OUTCOME_LABELS - 1 :]
        counts = counts[keep].assign(**{OTHER: counts[rest].sum(axis=1)})
        labels = [*keep, OTHER]
    rows = list(order) if order is not None else ordered_kinds(pd.Series(list(counts.index)))
    counts = counts.reindex(index=rows, columns=labels, fill_value=0)
    totals = counts.sum(axis=1).replace(0, 1)
    return counts.div(totals, axis=0)


def unexpected_cells(rows: pd.DataFrame) -> set[tuple[str, str]]:
    """The (row, label) segments of :func:`outcome_counts` that were not the expected outcome:
    most of their attempts had another verdict than ok (drawn hatched)."""
    unexpected = (rows["ok"] * 2 < rows["n"]).to_numpy()
    return set(zip(rows["kind"][unexpected], rows["label"][unexpected], strict=True))


#: The legend entry of the hatched segments.
HATCH = "///"


def outcome_colors(rows: pd.DataFrame, labels: list[str]) -> dict[str, Any]:
    """A colour per label: its outcome's family, a different shade per label in a family."""
    outcome_of = rows.drop_duplicates("label").set_index("label")["outcome"].to_dict()
    families: dict[str, list[str]] = {}
    for label in labels:
        families.setdefault(_family(str(outcome_of.get(label, OTHER))), []).append(label)
    colors: dict[str, Any] = {}
    for family, members in families.items():
        cmap = matplotlib.colormaps[family]
        for i, label in enumerate(members):
            # From dark to light, staying clear of the near-white end of the map.
            shade = 0.8 - 0.45 * (i / max(1, len(members) - 1)) if len(members) > 1 else 0.65
            colors[label] = cmap(shade)
    return colors


def outcomes_chart(
    attempts: pd.DataFrame,
    path: Path,
    *,
    groups: pd.Series[Any] | None = None,
    order: Sequence[str] | None = None,
    what: str = "token kind",
) -> Path:
    """Outcome distribution per token kind (or per group): stacked bars of shares (%).

    Args:
        attempts: the attempts frame.
        path: the PNG to write.
        groups: each attempt's group, aligned with ``attempts`` (None: its token kind).
        order: the groups top to bottom (None: token kinds in their usual order).
        what: what a group is, for the title and axis (``"token kind"``, ``"chaos phase"``).
    """
    rows = outcome_counts(attempts, groups) if not attempts.empty else pd.DataFrame()
    table = outcome_table(attempts, groups, order, rows)
    height = max(3.0, 1.4 + 0.6 * len(table.index))
    fig = new_figure(11.0, height)
    ax = fig.add_subplot()
    ax.set_title(f"Outcomes per {what} (share of attempts; hatched = not the expected outcome)")
    if table.empty:
        no_data(ax)
        ax.set_yticks([])
    else:
        hatched = unexpected_cells(rows)
        labels = [str(c) for c in table.columns]
        colors = outcome_colors(rows, labels)
        n = rows.groupby("kind")["n"].sum()
        ylabels = [f"{k} (n={int(n.get(k, 0))})" for k in table.index]
        left = pd.Series(0.0, index=table.index)
        for label in labels:
            share = table[label] * 100.0
            bars = ax.barh(
                ylabels,
                share.to_numpy(),
                left=left.to_numpy(),
                color=colors[label],
                edgecolor="white",
                lw=0.5,
            )
            for kind, bar, pct in zip(table.index, bars, share, strict=True):
                if (kind, label) in hatched or label == OTHER:
                    bar.set_hatch(HATCH)
                if pct >= MIN_LABELLED_PCT:
                    ax.text(
                        bar.get_x() + bar.get_width() / 2,
                        bar.get_y() + bar.get_height() / 2,
                        f"{short_label(label)} {pct:.0f}%",
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="black",
                        bbox={"fc": "white", "ec": "none", "alpha": 0.7, "pad": 1},
                    )
            left = left + share
        ax.invert_yaxis()  # first row on top
        # Plain swatches: a bar container's own legend handle copies its first bar's hatch.
        handles = [Patch(facecolor=colors[label], edgecolor="white") for label in labels]
        handles.append(Patch(facecolor="white", edgecolor="#555555", hatch=HATCH))
        names = [*labels, f"(hatched) not expected for the {'kind' if groups is None else 'kinds'}"]
        ax.legend(
            handles,
            names,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            title="outcome (close code / HTTP status)",
            fontsize=8,
        )
    ax.set_xlim(0, 100)
    ax.xaxis.set_major_formatter(PercentFormatter(100))
    ax.set_xlabel(f"share of attempts of the {what} (%)")
    ax.grid(True, axis="x", alpha=0.3)
    return save_png(fig, path)
