"""``harness suite DIR | SUITE.yaml``: scenarios one after another, then one suite report.

Each scenario is a ``harness run`` of its own (:mod:`harness.series.suite`); the suite
report (:mod:`harness.render.suite_report`) is written when the suite ends, whether every
scenario ran, ``--fail-fast`` stopped it, or Ctrl-C / SIGTERM interrupted it.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from harness.cli.args import (
    add_allow_host_option,
    add_out_option,
    add_secret_options,
    add_set_option,
    child_run_flags,
)

EPILOG = """\
A suite is a directory (every scenario *.yaml in it, by file name) or a suite file:

  name: release-gate
  defaults: {set: {load.duration: 20}, secret_env: STAGING_JWT_SECRET}
  scenarios:
    - {file: smoke.yaml, tags: [smoke]}
    - {file: auth-matrix.yaml, tags: [auth], set: {load.users: 20}}

Scenario paths are relative to the suite file; `set` edits are --set KEY=VALUE edits
(the defaults', then the scenario's, then the command line's). See docs/suite.md.

examples:
  harness suite suites/smoke-suite.yaml                  every scenario of the suite
  harness suite suites/smoke-suite.yaml --tags auth      only those tagged auth
  harness suite scenarios/ --set load.duration=10 --fail-fast
  harness suite suites/smoke-suite.yaml --out /tmp/runs -q

exit codes:
  0    every scenario passed its gates
  1    a scenario failed a gate (the suite report names it)
  2    a scenario could not run, or the suite file is wrong (file, line and key named)
  130  stopped by Ctrl-C or SIGTERM (the suite report of what ran is still written)
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "suite",
        help="run the scenarios of a suite one after another; one suite report",
        description="Run a suite: each scenario as its own run (its own run directory and "
        "report), one after another, then a suite report: index.html with every scenario's "
        "verdict and a link to its report, summary.json, and one junit.xml with a testsuite "
        "per scenario.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("suite", help="a suite YAML file or a directory of scenario files")
    p.add_argument(
        "--tags",
        type=_tags,
        default=(),
        metavar="TAG,TAG",
        help="run only the scenarios with at least one of these tags",
    )
    p.add_argument(
        "--fail-fast", action="store_true", help="stop at the first scenario that does not pass"
    )
    add_set_option(p)
    add_allow_host_option(p)
    add_out_option(p)
    add_secret_options(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines of the runs")
    p.set_defaults(handler=main)


def _tags(text: str) -> tuple[str, ...]:
    tags = tuple(t.strip() for t in text.split(",") if t.strip())
    if not tags:
        raise argparse.ArgumentTypeError(f"expected tags separated by commas, got {text!r}")
    return tags


def main(args: argparse.Namespace, argv: list[str]) -> int:
    from harness.config.suite import load_suite
    from harness.render.suite_report import verdict_text, verdict_word, write_suite_report
    from harness.series.child import interrupt_on_sigterm
    from harness.series.suite import run_suite, selected, suite_summary

    suite = load_suite(args.suite, args.set, allow_hosts=args.allow_host)
    secret_file = suite.secret_file and str(_relative_to(suite.source, suite.secret_file))
    run_args = child_run_flags(args, secret_env=suite.secret_env, secret_file=secret_file)
    with interrupt_on_sigterm():
        chosen = len(selected(suite, args.tags))
        print(f"suite {suite.name}: {chosen} of {len(suite.scenarios)} scenarios", flush=True)
        run = run_suite(
            suite,
            Path(args.out),
            tags=args.tags,
            fail_fast=args.fail_fast,
            run_args=run_args,
            say=lambda line: print(line, flush=True),
            command=shlex.join(["harness", *argv]),
        )
    summary = suite_summary(run)
    index = write_suite_report(run.directory, summary)
    print()
    for r in summary["scenarios"]:
        print(f"  {r['label']:<28} {r['status'].upper():<12} {r['file']}")
    print(f"suite report: {index.resolve().as_uri()}")
    print(f"junit: {(run.directory / 'junit.xml').resolve()}")
    word = verdict_word(summary)
    stream = sys.stdout if run.exit_code == 0 else sys.stderr
    print(f"{word}: {verdict_text(summary)}", file=stream, flush=True)
    return int(run.exit_code)


def _relative_to(source: str, path: str) -> Path:
    """A suite file's ``secret_file``: relative to the suite file's folder."""
    p = Path(path).expanduser()
    return p if p.is_absolute() or Path(source).is_dir() else Path(source).parent / p
