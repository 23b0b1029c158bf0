"""A synthetic run directory with many attempt records, to measure ``harness report`` at scale.

The directory looks like one a distributed run left when it was killed: ``meta.json`` (no end
time), ``scenario.json`` (a real scenario, loaded and serialised by the harness's own config
code), ``samples.jsonl`` (one sample a second), ``chaos.jsonl`` (a CPU quota, a restart of the
target and added latency) and ``attempts.jsonl`` with N records whose last line is torn.

The records are true to the harness's shapes: every distinct kind of attempt is built once as
an :class:`~harness.rundir.records.AttemptRecord` (its verdict and manner from
:mod:`harness.protocol.outcomes`), and each line is that record with its own user, times and
session. Two workers, 1,000 users each; a session reconnects after an attempt that did not
end it (the front-end preset). Outcomes depend on the token kind and on the chaos window the
attempt started in.

usage::

    .venv/bin/python bench/make_big_run.py /tmp/big -n 1000000     # about 1 GB, ~10 s
    /usr/bin/time -v .venv/bin/harness report /tmp/big/<run id>

It prints the run directory and writes the whole records per token kind and per verdict to
``OUT_DIR/counts.json``. :func:`make_big_run` is the same as a function.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.config.loader import load_scenario
from harness.config.serialise import scenario_to_dict
from harness.protocol.outcomes import SESSION_ENDING, Outcome, manner, verdict
from harness.rundir.layout import ATTEMPTS, CHAOS, SAMPLES, SCENARIO, write_json_atomic
from harness.rundir.meta import RunMeta
from harness.rundir.records import AttemptRecord

try:  # orjson writes the lines five times faster; json gives the same text
    import orjson

    def dumps(obj: dict[str, Any]) -> bytes:
        return orjson.dumps(obj)

except ImportError:  # pragma: no cover - orjson is a dependency of the harness

    def dumps(obj: dict[str, Any]) -> bytes:
        return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()


#: Time zero of every synthetic run (epoch s).
T0 = 1_796_000_000.0
#: Seconds the run lasted before it was killed.
DURATION_S = 600.0
WORKERS = ("worker-1", "worker-2")
USERS_PER_WORKER = 1_000

SCENARIO_YAML = """\
name: big-report
description: synthetic million-attempt run (bench/make_big_run.py)
target:
  embedded: {max_connections: 5000}
load:
  users: 2000
  spawn_rate: 500
  duration: 600
  mix: {valid: 70, empty: 6, missing: 3, expired: 8, bad_signature: 5, alg_none: 3, malformed: 5}
  session: {hold: 0.8, messages: 1, wait: [0.1, 0.5]}
  reconnect: {preset: front-end}
chaos:
  - {fault: cpu_quota, at: 120, for: 60, percent: 20}
  - {fault: restart_target, at: 300, down_ms: 2000}
  - {fault: latency, at: 420, for: 60, ms: 300}
gates:
  - {name: no invalid token accepted, metric: invalid_accepted, op: "==", threshold: 0}
  - {name: valid tokens fine before chaos, metric: success_rate, token_kind: valid, phase: baseline, op: ">=", threshold: 0.95}
  - {name: back quickly after the restart, metric: recovery_s, fault: "restart_target#1", op: "<=", threshold: 10}
"""  # noqa: E501

#: The chaos windows: label, fault, kind, disruptive, params, start and end (s since T0).
WINDOWS: tuple[tuple[str, str, str, bool, dict[str, Any], float, float], ...] = (
    ("cpu_quota#1", "cpu_quota", "cpu", False, {"percent": 20.0}, 120.0, 180.0),
    ("restart_target#1", "restart_target", "process", True, {"down_ms": 2000.0}, 300.0, 302.6),
    ("latency#1", "latency", "network", True, {"ms": 300.0}, 420.0, 480.0),
)

#: Token kinds and their shares of the attempts (as the scenario's mix).
KINDS: dict[str, float] = {
    "valid": 70,
    "empty": 6,
    "missing": 3,
    "expired": 8,
    "bad_signature": 5,
    "alg_none": 3,
    "malformed": 5,
}

# One shape of attempt: outcome, stage, HTTP status, close code, close reason, closed by,
# the client's close code, the deadline that expired, a short error text.
_Shape = tuple[str, str, int | None, int | None, str | None, str | None, int | None, str | None]
_SHAPES: dict[str, _Shape] = {
    "accepted": ("accepted", "open", None, None, None, "client", 1000, None),
    "overloaded": ("closed_try_again", "open", None, 1013, "overloaded", "server", None, None),
    "cap503": ("rejected_capacity", "handshake", 503, None, None, None, None, None),
    "dropped": ("abnormal_closure", "open", None, None, None, None, None, None),
    "no101": ("abnormal_handshake", "handshake", None, None, None, None, None, None),
    "hs_timeout": ("timeout_handshake", "handshake", None, None, None, None, 1001, "handshake"),
    "refused": ("refused", "connect", None, None, None, None, None, None),
    "emfile": ("generator_fault", "connect", None, None, None, None, None, None),
    "auth4401": ("closed_auth", "open", None, 4401, "token empty", "server", None, None),
    "auth401": ("rejected_auth", "handshake", 401, None, None, None, None, None),
    "auth403": ("rejected_auth", "handshake", 403, None, None, None, None, None),
    "policy": ("closed_policy", "open", None, 1008, "bad token", "server", None, None),
}
_ERRORS: dict[str, str] = {
    "refused": "[Errno 111] Connection refused",
    "emfile": "[Errno 24] Too many open files",
    "no101": "connection closed before the 101 response",
    "dropped": "connection lost without a close frame",
    "hs_timeout": "handshake: no response in 5.0 s",
}

#: Shape weights per token kind and where the attempt started (phase group).
_Mix = dict[str, float]
_VALID: dict[str, _Mix] = {
    "baseline": {"accepted": 985, "overloaded": 5, "dropped": 4, "hs_timeout": 3, "emfile": 3},
    "cpu_quota#1": {"accepted": 800, "cap503": 100, "overloaded": 50, "hs_timeout": 50},
    "restart_target#1": {"refused": 600, "no101": 200, "accepted": 200},
    "latency#1": {"accepted": 900, "hs_timeout": 80, "dropped": 20},
}
_INVALID: dict[str, _Mix] = {
    "empty": {"auth4401": 990, "auth401": 10},
    "missing": {"auth401": 1000},
    "expired": {"auth401": 998, "accepted": 2},  # a few accepted: the security finding
    "bad_signature": {"auth403": 950, "policy": 50},
    "alg_none": {"auth403": 1000},
    "malformed": {"auth401": 1000},
}


@dataclass
class BigRun:
    """What :func:`make_big_run` wrote.

    Attributes:
        path: the run directory.
        records: whole attempt records written (the torn last line not counted).
        kinds: whole records per token kind.
        verdicts: whole records per verdict.
        seconds: how long writing took (s).
    """

    path: Path
    records: int
    kinds: Counter[str] = field(default_factory=Counter)
    verdicts: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0


def _template(kind: str, shape: str, chaos: Sequence[str]) -> dict[str, Any]:
    """One kind of attempt as an AttemptRecord's dict (its per-attempt fields set later)."""
    outcome, stage, status, code, reason, closed_by, client_code, gave_up = _SHAPES[shape]
    o = Outcome(outcome)
    m = manner(o)
    opened = stage == "open"
    rec = AttemptRecord(
        run_id="",
        worker="",
        user=0,
        attempt=0,
        token_kind=kind,
        placement="query",
        expected="accept" if kind == "valid" else "reject",
        t_start=0.0,
        outcome=o.value,
        verdict=verdict(kind, o).value,
        manner=None if m is None else m.value,
        stage=stage,
        http_status=status,
        close_code=code,
        close_reason=reason,
        closed_by=closed_by,
        client_close_code=client_code,
        gave_up=gave_up,
        msgs_sent=1 if outcome == "accepted" else 0,
        msgs_recv=1 if outcome == "accepted" else 0,
        pings=0,
        error=_ERRORS.get(shape),
        chaos=list(chaos),
        load_stage="steady",
    )
    row = asdict(rec)
    row["_opened"] = opened
    row["_ending"] = o in SESSION_ENDING
    return row


def _phase_group(t_s: float) -> str:
    for label, *_, start, end in WINDOWS:
        if start <= t_s < end:
            return label
    return "baseline"


def _chooser(rng: np.random.Generator, weights: _Mix) -> Callable[[], str]:
    names = list(weights)
    p = np.array([weights[n] for n in names], dtype=float)
    p /= p.sum()
    # A block of draws at a time: one numpy call per 4,096 attempts.
    block: list[str] = []

    def choose() -> str:
        if not block:
            block.extend(names[i] for i in rng.choice(len(names), size=4096, p=p))
        return block.pop()

    return choose


def write_attempts(path: Path, n: int, run_id: str, *, seed: int = 1, torn: bool = True) -> BigRun:
    """Write ``n`` whole attempt records to ``path`` (and a torn last line when ``torn``)."""
    rng = np.random.default_rng(seed)
    out = BigRun(path=path.parent, records=n)
    t_s = np.sort(rng.uniform(0.0, DURATION_S, size=n))
    kind_names = list(KINDS)
    kp = np.array([KINDS[k] for k in kind_names], dtype=float)
    kinds = rng.choice(len(kind_names), size=n, p=kp / kp.sum())
    # Each user's attempts follow one another: the users take turns, in a shuffled order.
    everyone = len(WORKERS) * USERS_PER_WORKER
    users = rng.permutation(everyone)[np.arange(n) % everyone]
    connect = np.round(rng.gamma(2.0, 0.6, size=n), 2)
    handshake = np.round(rng.gamma(2.0, 1.5, size=n), 2)
    hold = np.round(rng.uniform(0.6, 1.0, size=n), 3)
    choosers = {
        (kind, group): _chooser(rng, _VALID[group] if kind == "valid" else _INVALID[kind])
        for kind in kind_names
        for group in ("baseline", *(w[0] for w in WINDOWS))
    }
    templates: dict[tuple[str, str, str], dict[str, Any]] = {}
    # Per user: (session number, attempts made, index of the session's pending reconnect).
    sessions: dict[int, list[int]] = {}
    attempts: dict[int, int] = {}
    with open(path, "wb") as fh:
        lines: list[bytes] = []
        for i in range(n):
            t = float(t_s[i])
            kind = kind_names[int(kinds[i])]
            group = _phase_group(t)
            shape = choosers[(kind, group)]()
            key = (kind, shape, group)
            tpl = templates.get(key)
            if tpl is None:
                tpl = templates[key] = _template(
                    kind, shape, () if group == "baseline" else (group,)
                )
            u = int(users[i])
            worker, user = WORKERS[u // USERS_PER_WORKER], u % USERS_PER_WORKER + 1
            state = sessions.setdefault(u, [0, 0, 0])  # session n, attempt in session, pending
            if state[2]:
                state[1] += 1
            else:
                state[0] += 1
                state[1] = 0
            state[2] = 0 if tpl["_ending"] else 1
            attempts[u] = attempts.get(u, 0) + 1
            row = {k: v for k, v in tpl.items() if k[0] != "_"}
            start = T0 + t
            row["run_id"], row["worker"], row["user"] = run_id, worker, user
            row["attempt"] = attempts[u]
            row["t_start"] = round(start, 4)
            row["connect_ms"] = float(connect[i]) if tpl["stage"] != "connect" else None
            row["handshake_ms"] = float(handshake[i]) if tpl["stage"] != "connect" else None
            opened = tpl["_opened"]
            open_s = float(hold[i]) if opened else None
            row["open_s"] = open_s
            setup = (float(connect[i]) + float(handshake[i])) / 1000.0
            row["t_end"] = round(start + setup + (open_s or 0.0), 4)
            if opened and tpl["outcome"] == "accepted":
                row["rtt_ms_avg"] = row["rtt_ms_max"] = float(handshake[i]) / 2
            row["session"] = f"{worker}-{user}-{state[0]}"
            row["session_attempt"] = state[1]
            if state[1]:
                row["reconnect_delay_s"] = 0.5
            row["token_exp"] = round(start + 300.0) if kind == "valid" else None
            lines.append(dumps(row))
            out.kinds[kind] += 1
            out.verdicts[row["verdict"]] += 1
            if len(lines) >= 10_000:
                fh.write(b"\n".join(lines) + b"\n")
                lines.clear()
        if lines:
            fh.write(b"\n".join(lines) + b"\n")
        if torn:  # a run killed mid-write: half a record, no newline
            last = dumps({**row, "user": 0})
            fh.write(last[: len(last) // 2])
    return out


def write_chaos(path: Path) -> None:
    """``chaos.jsonl``: every window applied and reverted (restart: applying, pid, applied)."""
    with open(path, "wb") as fh:
        for label, fault, kind, disruptive, params, start, end in WINDOWS:
            base = {
                "label": label,
                "fault": fault,
                "kind": kind,
                "disruptive": disruptive,
                "optional": False,
                "params": params,
                "planned_at": start,
                "planned_for": None if fault == "restart_target" else end - start,
                "error": None,
            }
            events = [("applying", start), ("applied", start + 0.01), ("reverted", end)]
            if fault == "restart_target":
                events = [("applying", start), ("applied", end - 0.01), ("reverted", end)]
            for event, t in events:
                fh.write(dumps({"t": T0 + t, "event": event, **base}) + b"\n")


def write_samples(path: Path, rng: np.random.Generator) -> None:
    """``samples.jsonl``: the target's CPU, RSS, FDs, connections and threads each second."""
    with open(path, "wb") as fh:
        for s in range(int(DURATION_S)):
            cpu = 90.0 if 120 <= s < 180 else float(rng.uniform(40.0, 70.0))
            conns = 0 if 300 <= s < 303 else int(rng.integers(1_500, 2_100))
            sample = {
                "t": T0 + s + 0.5,
                "cpu_percent": round(cpu, 1),
                "rss_mb": round(120.0 + conns * 0.02, 2),
                "fds": conns + 12,
                "connections": conns,
                "threads": 1,
            }
            fh.write(dumps(sample) + b"\n")


def make_big_run(out_dir: Path, n: int, *, seed: int = 1, torn: bool = True) -> BigRun:
    """A synthetic killed run with ``n`` attempt records in ``out_dir/<run id>``.

    Args:
        out_dir: where the run directory is made (it must not hold one of the same id).
        n: whole attempt records (a torn last line comes on top when ``torn``).
        seed: the random generator's seed: the same seed gives the same files.
        torn: end ``attempts.jsonl`` with half a record, as a killed run may.
    """
    began = time.perf_counter()
    run_id = f"20261202-120000-big-report-{n}"
    path = out_dir / run_id
    path.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        yaml_path = Path(tmp) / "big-report.yaml"
        yaml_path.write_text(SCENARIO_YAML, encoding="utf-8")
        scenario = load_scenario(yaml_path)
    write_json_atomic(path / SCENARIO, scenario_to_dict(scenario))
    RunMeta(
        run_id=run_id,
        scenario=scenario.name,
        route="harness run",
        command="harness run --workers 2 big-report.yaml",
        started_at=T0,
        ended_at=None,  # killed: no end recorded
        duration_planned_s=DURATION_S,
        complete=False,
        target_url="ws://127.0.0.1:8765/ws",
    ).write(path)
    write_chaos(path / CHAOS)
    write_samples(path / SAMPLES, np.random.default_rng(seed + 1))
    result = write_attempts(path / ATTEMPTS, n, run_id, seed=seed, torn=torn)
    result.path = path
    result.seconds = time.perf_counter() - began
    return result


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out_dir", type=Path, help="where to make the run directory")
    p.add_argument("-n", type=int, default=1_000_000, help="attempt records (default 1,000,000)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-torn", action="store_true", help="end with a whole last line")
    args = p.parse_args(argv)
    run = make_big_run(args.out_dir, args.n, seed=args.seed, torn=not args.no_torn)
    size = (run.path / ATTEMPTS).stat().st_size
    print(
        f"{run.records} records, {size / 1e6:.0f} MB ({size / max(1, run.records):.0f} B each) "
        f"in {run.seconds:.1f} s",
        file=sys.stderr,
    )
    counts = {"records": run.records, "kinds": run.kinds, "verdicts": run.verdicts}
    (args.out_dir / "counts.json").write_text(json.dumps(counts, indent=2) + "\n")
    print(run.path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
