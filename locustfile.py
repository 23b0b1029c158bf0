"""Locust entry point: ``locust -f locustfile.py --scenario scenarios/smoke.yaml``.

The same engine as ``harness run`` (see :mod:`harness.cli.locust`): headless
(``--headless``, ``-t`` may cut the planned duration short) or in Locust's web UI, where
each test is a run with its own directory and report. Harness options: ``--scenario``,
``--out``, ``--set KEY.PATH=VALUE``, ``--secret-env NAME`` / ``--secret-file PATH``.
"""

from __future__ import annotations

from locust import events

from harness.cli.locust import install
from harness.load.user import ScenarioUser

install(events)

__all__ = ["ScenarioUser"]
