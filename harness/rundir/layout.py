"""The run directory's layout: the name of every file, run ids, and atomic writes.

One run is one directory ``<out>/<run-id>/``::

    meta.json          run metadata (:mod:`harness.rundir.meta`), rewritten atomically
    scenario.json      the scenario as run, secret shown only as where it comes from
    attempts.jsonl     one attempt record per line (:mod:`harness.rundir.records`)
    samples.jsonl      the target's resource samples, one per second
    generator.jsonl    the load generator's own footprint (sessions open, RSS, FDs), per second
    chaos.jsonl        the chaos driver's timeline (:mod:`harness.rundir.chaos_log`)
    chaos-plan.json    what the chaos driver was asked to do
    chaos-ready.json   written by the driver once it (and its proxy) is ready
    chaos-driver.log   the driver's own output
    target.log         the embedded target's output (a file, never a pipe)
    summary.json       the analysis (:mod:`harness.analysis.summary`), with gates
    index.html, summary.md, junit.xml, token_kinds.csv, phases.csv, charts/*.png

JSON files are written through a temporary file and a rename, so a reader (or a run
killed mid-write) never sees half a file; JSONL files are append-only.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import RunDirError

META = "meta.json"
SCENARIO = "scenario.json"
ATTEMPTS = "attempts.jsonl"
SAMPLES = "samples.jsonl"
GENERATOR = "generator.jsonl"
CHAOS = "chaos.jsonl"
CHAOS_PLAN = "chaos-plan.json"
CHAOS_READY = "chaos-ready.json"
CHAOS_DRIVER_LOG = "chaos-driver.log"
TARGET_LOG = "target.log"
SUMMARY = "summary.json"
INDEX = "index.html"
MARKDOWN = "summary.md"
JUNIT = "junit.xml"
KINDS_CSV = "token_kinds.csv"
PHASES_CSV = "phases.csv"
CHARTS = "charts"
#: A capacity search's result (``harness capacity``), in its directory.
CAPACITY = "capacity.json"


@dataclass(frozen=True)
class RunDir:
    """One run directory and the paths of its files (see the module docstring)."""

    path: Path

    @classmethod
    def create(cls, out_dir: Path, run_id: str) -> RunDir:
        """Make ``out_dir/run_id`` (it must not exist yet).

        Raises:
            HarnessError: the directory exists or cannot be made (the message names it).
        """
        path = out_dir / run_id
        try:
            path.mkdir(parents=True, exist_ok=False)
        except OSError as exc:
            raise RunDirError(f"cannot create run directory {path}: {exc.strerror}") from exc
        return cls(path)

    @classmethod
    def existing(cls, path: Path) -> RunDir:
        """An existing run directory (one with a ``meta.json``).

        Raises:
            RunDirError: ``path`` is not a directory or has no ``meta.json``.
        """
        if not path.is_dir():
            raise RunDirError(f"{path}: not a run directory (does not exist)")
        if not (path / META).is_file():
            raise RunDirError(f"{path}: not a run directory (no {META})")
        return cls(path)

    @property
    def run_id(self) -> str:
        return self.path.name

    def file(self, name: str) -> Path:
        """The path of the file ``name`` (one of this module's constants) in the run."""
        return self.path / name

    @property
    def meta(self) -> Path:
        return self.path / META

    @property
    def scenario(self) -> Path:
        return self.path / SCENARIO

    @property
    def attempts(self) -> Path:
        return self.path / ATTEMPTS

    @property
    def samples(self) -> Path:
        return self.path / SAMPLES

    @property
    def chaos(self) -> Path:
        return self.path / CHAOS

    @property
    def target_log(self) -> Path:
        return self.path / TARGET_LOG

    @property
    def summary(self) -> Path:
        return self.path / SUMMARY

    @property
    def index(self) -> Path:
        return self.path / INDEX

    @property
    def charts(self) -> Path:
        return self.path / CHARTS


def new_run_id(name: str, *, prefix: str = "") -> str:
    """``[<prefix>-]YYYYmmdd-HHMMSS-<name>-<4 hex>``: sortable, unique, readable."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:40]
    return f"{prefix + '-' if prefix else ''}{stamp}-{safe}-{secrets.token_hex(2)}"


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` through a temporary file in the same directory and a rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json_atomic(path: Path, obj: Any) -> None:
    """``obj`` as indented JSON (no NaN), written atomically."""
    write_text_atomic(path, json.dumps(obj, indent=2, allow_nan=False, default=str) + "\n")


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON file holding one object.

    Raises:
        RunDirError: the file is missing, unreadable, not JSON or not an object.
    """
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunDirError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(obj, dict):
        raise RunDirError(f"{path}: expected a JSON object, got {type(obj).__name__}")
    return obj
