"""TLS end to end: real ``harness run`` processes over wss://.

The embedded target with ``tls: true`` serves a certificate made for the run, whose CA the
users trust (valid tokens accepted, the TLS time recorded apart); a user's service with a
certificate from a CA nobody knows is accepted with ``target.tls.insecure`` and with
``target.tls.ca_file`` naming that CA; a ``ca_file`` that cannot be read is an error at
load naming the key.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.chaos.session import embedded_restart_spec
from harness.config.scenario import EmbeddedTarget, Scenario, Target
from harness.target.certs import RunCerts, make_run_certs
from harness.target.process import TargetProcess, start_target
from tests.conftest import CliRun, run_cli, scaled

SECRET = "tls-run-test-secret-" + "0123456789abcdef" * 2
SECRET_ENV = "HARNESS_TLS_TEST_SECRET"
LOAD = """\
load:
  users: 3
  spawn_rate: 3
  duration: 4
  mix: {valid: 3, expired: 1}
  session: {hold: 0.3, messages: 1, wait: [0.1, 0.2]}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(textwrap.dedent(text) + LOAD)
    return path


def assert_valid_accepted_over_tls(run: CliRun) -> None:
    assert run.code == 0, run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    records = [r for r in run.attempts() if r["verdict"] != "excluded"]
    valid = [r for r in records if r["token_kind"] == "valid"]
    expired = [r for r in records if r["token_kind"] == "expired"]
    assert len(valid) >= 5, records
    for r in valid:
        assert r["outcome"] == "accepted", r
        assert r["tls_ms"] is not None and r["tls_ms"] > 0, r
    for r in expired:
        assert r["outcome"] == "rejected_auth", r


@pytest.fixture(scope="module")
def foreign_wss(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TargetProcess, Path]]:
    """The reference target over wss://, its certificate from a CA no system trusts."""
    where = tmp_path_factory.mktemp("foreign-wss")
    certs = make_run_certs(where)
    opts = EmbeddedTarget(ping_interval=0)
    with start_target(opts, secret=SECRET, log_path=where / "target.log", certs=certs) as t:
        yield t, certs.ca_file


def test_embedded_tls_run_is_served_over_wss_and_trusted(tmp_path: Path) -> None:
    scenario = write(tmp_path, "name: tls-embedded\ntarget:\n  embedded: {tls: true}\n")
    run = run_cli("run", str(scenario), out_dir=tmp_path / "out")
    assert_valid_accepted_over_tls(run)
    assert "target wss://127.0.0.1:" in run.stdout, run.stdout
    certs = RunCerts.at(run.run_dir / "tls")
    assert stat.S_IMODE(os.stat(certs.keyfile).st_mode) == 0o600
    key = certs.keyfile.read_text()
    assert "PRIVATE KEY" in key
    body = key.split("-----")[2].strip()  # the base64 body of the key: never printed
    assert body[:40] not in run.stdout + run.stderr
    assert body[:40] not in (run.run_dir / "target.log").read_text()


def test_insecure_accepts_a_service_whose_ca_is_unknown(
    tmp_path: Path, foreign_wss: tuple[TargetProcess, Path]
) -> None:
    target, _ = foreign_wss
    scenario = write(
        tmp_path,
        f"""\
        name: tls-insecure
        target:
          url: {target.url}
          tls: {{insecure: true}}
        auth:
          secret: {{env: {SECRET_ENV}}}
        """,
    )
    run = run_cli("run", str(scenario), out_dir=tmp_path / "out", env={SECRET_ENV: SECRET})
    assert_valid_accepted_over_tls(run)
    warnings = [line for line in run.stdout.splitlines() if "target.tls.insecure" in line]
    assert len(warnings) == 1, run.stdout


def test_ca_file_trusts_that_ca_relative_to_the_scenario(
    tmp_path: Path, foreign_wss: tuple[TargetProcess, Path]
) -> None:
    target, ca_file = foreign_wss
    (tmp_path / "ca.pem").write_bytes(ca_file.read_bytes())
    scenario = write(
        tmp_path,
        f"""\
        name: tls-ca-file
        target:
          url: {target.url}
          tls: {{ca_file: ca.pem}}
        auth:
          secret: {{env: {SECRET_ENV}}}
        """,
    )
    run = run_cli("run", str(scenario), out_dir=tmp_path / "out", env={SECRET_ENV: SECRET})
    assert_valid_accepted_over_tls(run)
    assert "insecure" not in run.stdout


@pytest.mark.parametrize(
    ("ca_file", "reason"), [("missing.pem", "No such file"), (".", "Is a directory")]
)
def test_unreadable_ca_file_is_an_error_naming_the_key(
    tmp_path: Path, ca_file: str, reason: str
) -> None:
    scenario = write(
        tmp_path,
        f"""\
        name: tls-bad-ca
        target:
          url: wss://127.0.0.1:9/ws
          tls: {{ca_file: "{ca_file}"}}
        auth:
          secret: {{env: {SECRET_ENV}}}
        """,
    )
    run = run_cli("run", str(scenario), out_dir=tmp_path / "out", env={SECRET_ENV: SECRET})
    assert run.code == 2, run.stdout + run.stderr
    output = run.stdout + run.stderr
    assert "Traceback" not in output
    assert "target.tls.ca_file" in output and reason in output, output
    assert str(tmp_path / ca_file) in output or str(tmp_path) in output, output


def test_ca_file_with_insecure_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not used")
    scenario = write(
        tmp_path,
        f"""\
        name: tls-both
        target:
          url: wss://127.0.0.1:9/ws
          tls: {{ca_file: ca.pem, insecure: true}}
        auth:
          secret: {{env: {SECRET_ENV}}}
        """,
    )
    run = run_cli("run", str(scenario), out_dir=tmp_path / "out", env={SECRET_ENV: SECRET})
    assert run.code == 2, run.stdout + run.stderr
    assert "target.tls" in run.stderr + run.stdout and "Traceback" not in run.stderr


def test_doctor_ca_file_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    run = run_cli(
        "doctor",
        "wss://127.0.0.1:9/ws",
        "--ca-file",
        str(tmp_path),
        env={"HARNESS_JWT_SECRET": SECRET},
    )
    assert run.code == 2, run.stdout + run.stderr
    assert f"--ca-file: cannot read {tmp_path}: Is a directory" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr


def test_a_restarted_embedded_target_serves_the_same_certificate(tmp_path: Path) -> None:
    scenario = Scenario(name="x", source="x.yaml", target=Target(embedded=EmbeddedTarget(tls=True)))
    spec = embedded_restart_spec(scenario, 4242, tmp_path / "target.log")
    assert spec["tls_dir"] == str(tmp_path / "tls")
    plain = Scenario(name="x", source="x.yaml")
    assert embedded_restart_spec(plain, 4242, tmp_path / "target.log")["tls_dir"] is None


def test_target_certfile_without_keyfile_is_refused(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "harness.target", "--port", "0", "--certfile", str(tmp_path / "c")],
        capture_output=True,
        text=True,
        env={**os.environ, "HARNESS_JWT_SECRET": SECRET},
        timeout=scaled(30),
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "--certfile and --keyfile go together" in proc.stderr
