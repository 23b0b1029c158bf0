"""Tests of harness.config.secret: where the secret comes from; it never shows in a message."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.config.loader import load_scenario
from harness.config.overrides import apply_overrides
from harness.config.scenario import Secret
from harness.config.secret import MAX_SECRET_BYTES, resolve_secret, with_secret
from harness.errors import HarnessError, ScenarioError
from tests.config.helpers import SECRET_VALUE, load, write


def test_secret_from_env() -> None:
    assert (
        resolve_secret(load("name: x\nauth: {secret: {env: HARNESS_TEST_SECRET}}\n"))
        == SECRET_VALUE
    )


def test_secret_from_file_relative_to_the_scenario() -> None:
    Path("scenarios").mkdir()
    Path("scenarios/key.txt").write_text(SECRET_VALUE + "\n")
    write("name: x\nauth: {secret: {file: key.txt}}\n", "scenarios/s.yaml")
    assert resolve_secret(load_scenario("scenarios/s.yaml")) == SECRET_VALUE


def test_no_secret_embedded_is_generated_external_is_an_error() -> None:
    assert resolve_secret(load("name: x\n")) is None
    with pytest.raises(ScenarioError) as info:
        resolve_secret(load("name: x\ntarget: {url: 'ws://127.0.0.1:1/ws'}\n"))
    assert str(info.value) == (
        "x.yaml: auth.secret: required for an external target "
        "(give env: NAME or file: PATH, or --secret-env / --secret-file)"
    )
    with pytest.raises(ScenarioError):
        resolve_secret(apply_overrides(load("name: x\n"), target_url="ws://[::1]:1/ws"))


def secret_error(text: str) -> str:
    with pytest.raises(ScenarioError) as info:
        resolve_secret(load(text))
    assert SECRET_VALUE not in str(info.value)
    return str(info.value)


def test_secret_env_unset_or_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARNESS_UNSET_SECRET", raising=False)
    assert secret_error("name: x\nauth: {secret: {env: HARNESS_UNSET_SECRET}}\n") == (
        "x.yaml: auth.secret.env: environment variable HARNESS_UNSET_SECRET is not set"
    )
    monkeypatch.setenv("HARNESS_UNSET_SECRET", "")
    assert secret_error("name: x\nauth: {secret: {env: HARNESS_UNSET_SECRET}}\n") == (
        "x.yaml: auth.secret.env: environment variable HARNESS_UNSET_SECRET is empty"
    )


def test_secret_file_missing_empty_or_binary() -> None:
    assert secret_error("name: x\nauth: {secret: {file: missing.key}}\n") == (
        "x.yaml: auth.secret.file: cannot read missing.key: No such file or directory"
    )
    Path("empty.key").write_text("\n")
    assert secret_error("name: x\nauth: {secret: {file: empty.key}}\n") == (
        "x.yaml: auth.secret.file: empty.key is empty"
    )
    Path("bin.key").write_bytes(b"\xff" + SECRET_VALUE.encode())
    assert secret_error("name: x\nauth: {secret: {file: bin.key}}\n") == (
        "x.yaml: auth.secret.file: bin.key is not UTF-8 text"
    )


# --- --secret-env / --secret-file ---------------------------------------------------------


def test_with_secret_env_replaces_the_scenario_s_source() -> None:
    s = load("name: x\ntarget: {url: 'ws://localhost:1/ws'}\nauth: {secret: {file: other.key}}\n")
    o = with_secret(s, env="HARNESS_TEST_SECRET", file=None)
    assert o.auth.secret == Secret(env="HARNESS_TEST_SECRET")
    assert o.auth.algorithm == s.auth.algorithm and s.auth.secret == Secret(file="other.key")
    assert resolve_secret(o) == SECRET_VALUE
    assert with_secret(s, env=None, file=None) is s


def test_with_secret_file_is_relative_to_the_current_directory(tmp_path: Path) -> None:
    Path("scenarios").mkdir()
    Path("key.txt").write_text(SECRET_VALUE + "\n")
    write("name: x\ntarget: {url: 'ws://127.0.0.1:1/ws'}\n", "scenarios/s.yaml")
    o = with_secret(load_scenario("scenarios/s.yaml"), env=None, file="key.txt")
    assert o.auth.secret == Secret(file=str(tmp_path / "key.txt"))
    assert resolve_secret(o) == SECRET_VALUE


@pytest.mark.parametrize(
    ("env", "file", "message"),
    [
        ("1X", None, "--secret-env: expected a variable name, got '1X'"),
        ("", None, "--secret-env: expected a variable name, got ''"),
        (None, "", "--secret-file: expected a path, got ''"),
        ("A", "b", "--secret-env, --secret-file: expected one of them, got both"),
    ],
)
def test_with_secret_errors(env: str | None, file: str | None, message: str) -> None:
    with pytest.raises(HarnessError) as info:
        with_secret(load("name: x\n"), env=env, file=file)
    assert not isinstance(info.value, ScenarioError)
    assert str(info.value) == message


def test_a_secret_env_that_is_unset_is_named_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARNESS_UNSET_SECRET", raising=False)
    o = with_secret(load("name: x\n"), env="HARNESS_UNSET_SECRET", file=None)
    with pytest.raises(ScenarioError) as info:
        resolve_secret(o)
    assert str(info.value) == (
        "x.yaml: auth.secret.env: environment variable HARNESS_UNSET_SECRET is not set"
    )


# --- Bounded secret files -----------------------------------------------------------------


@pytest.mark.timeout(10)
def test_a_secret_file_that_is_a_fifo_or_a_device_is_refused_at_once() -> None:
    os.mkfifo("key.fifo")
    assert secret_error("name: x\nauth: {secret: {file: key.fifo}}\n") == (
        "x.yaml: auth.secret.file: cannot read key.fifo: not a regular file (a FIFO)"
    )
    assert secret_error("name: x\nauth: {secret: {file: /dev/zero}}\n") == (
        "x.yaml: auth.secret.file: cannot read /dev/zero: not a regular file (a character device)"
    )


def test_a_secret_file_over_64_kib_is_refused_unread() -> None:
    Path("big.key").write_text(SECRET_VALUE * (MAX_SECRET_BYTES // len(SECRET_VALUE) + 1))
    assert secret_error("name: x\nauth: {secret: {file: big.key}}\n") == (
        "x.yaml: auth.secret.file: cannot read big.key: larger than 64 KiB"
    )
    Path("max.key").write_bytes(b"k" * MAX_SECRET_BYTES)
    assert resolve_secret(load("name: x\nauth: {secret: {file: max.key}}\n")) == "k" * (64 << 10)


@pytest.mark.timeout(10)
def test_secret_file_flag_refuses_a_fifo_or_a_device(tmp_path: Path) -> None:
    os.mkfifo("key.fifo")
    s = load("name: x\n")
    with pytest.raises(HarnessError) as info:
        with_secret(s, env=None, file="key.fifo")
    assert str(info.value) == f"--secret-file: {tmp_path / 'key.fifo'}: not a regular file (a FIFO)"
    with pytest.raises(HarnessError) as info:
        with_secret(s, env=None, file="/dev/zero")
    assert str(info.value) == "--secret-file: /dev/zero: not a regular file (a character device)"
    # a file that is not there yet is read (and reported) when the run starts
    o = with_secret(s, env=None, file="later.key")
    with pytest.raises(ScenarioError) as info2:
        resolve_secret(o)
    assert str(info2.value) == (
        f"x.yaml: auth.secret.file: cannot read {tmp_path / 'later.key'}: No such file or directory"
    )
