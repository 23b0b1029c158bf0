"""The scenario a command runs: the file, then ``--set``, the common flags and the secret flags,
each checked as strictly as the file (an error names the flag and key)."""

from __future__ import annotations

import argparse

from harness.config.loader import load_scenario
from harness.config.overrides import apply_overrides
from harness.config.scenario import Scenario
from harness.config.secret import with_secret


def scenario_from_args(args: argparse.Namespace) -> Scenario:
    """The scenario of ``args.scenario`` with every override on the command line applied.

    Raises:
        HarnessError: the file or an override is invalid (the message names file/flag and key).
    """
    scenario = load_scenario(
        args.scenario,
        sets=getattr(args, "set", None) or (),
        allow_hosts=getattr(args, "allow_host", None) or (),
    )
    scenario = apply_overrides(
        scenario,
        duration=getattr(args, "duration", None),
        users=getattr(args, "users", None),
        spawn_rate=getattr(args, "spawn_rate", None),
        target_url=getattr(args, "target_url", None),
        defects=getattr(args, "defect", None) or (),
    )
    env, file = getattr(args, "secret_env", None), getattr(args, "secret_file", None)
    if env is not None or file is not None:
        scenario = with_secret(scenario, env=env, file=file)
    return scenario
