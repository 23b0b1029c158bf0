"""nftables helpers for network faults: a private table per fault, deleted on revert.

Every table this module creates is named ``harness_<pid>_<hex>`` (family ``inet``), where
``<pid>`` is the creating process. Rules never touch another table, so reverting a fault
is deleting its table, and :func:`sweep_stale` can remove tables left behind by a harness
that died (creator PID gone) without touching those of a harness still running.

Rules are scoped to loopback traffic to one TCP port (:func:`loopback_port_matches`), in
one ``input`` chain: on loopback every packet passes the ``output`` hook and then the
``input`` hook, so one chain sees each packet once (a second chain on ``output`` would
apply a random drop twice).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from typing import Any

from harness.chaos.base import ChaosContext, ChaosError, Fault, pid_alive

FAMILY = "inet"  # one table covers IPv4 and IPv6
TABLE_PREFIX = "harness_"
TABLE_RE = re.compile(r"^harness_(\d+)_[0-9a-f]+$")
NFT_TIMEOUT_S = 10.0  # seconds one nft command may take
LOOPBACK_V4 = "127.0.0.0/8"
LOOPBACK_V6 = "::1"


def _nft(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``nft ARGS``; never raises for a non-zero exit (the caller reads ``returncode``)."""
    exe = shutil.which("nft")
    if exe is None:
        raise ChaosError("nftables: the nft binary is missing (Debian package: nftables)")
    try:
        return subprocess.run(
            [exe, *args],
            capture_output=True,
            text=True,
            timeout=NFT_TIMEOUT_S,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise ChaosError(f"nft {' '.join(args)}: no answer in {NFT_TIMEOUT_S:g} s") from None


def _checked(*args: str) -> str:
    proc = _nft(*args)
    if proc.returncode != 0:
        raise ChaosError(f"nft {' '.join(args)}: {proc.stderr.strip() or 'failed'}")
    return proc.stdout


def nft_available() -> str | None:
    """None when nftables rules can be applied here, else why not (not root, no nft, kernel)."""
    if os.geteuid() != 0:
        return "nftables faults need root"
    if shutil.which("nft") is None:
        return "the nft binary is missing (Debian package: nftables)"
    try:
        table = NftTable.create()
    except ChaosError as exc:
        return f"the kernel refuses nf_tables: {exc}"
    try:
        table.delete()
    except ChaosError as exc:
        return f"nf_tables: a probe table could not be deleted: {exc}"
    return None


def list_tables() -> list[str]:
    """Names of the ``inet`` tables present now."""
    names = []
    for line in _checked("list", "tables", FAMILY).splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "table" and parts[1] == FAMILY:
            names.append(parts[2])
    return names


def sweep_stale() -> list[str]:
    """Delete ``harness_<pid>_*`` tables whose creator PID is dead; returns the names deleted."""
    deleted = []
    for name in list_tables():
        m = TABLE_RE.match(name)
        if m and not pid_alive(int(m.group(1))):
            NftTable(name).delete()
            deleted.append(name)
    return deleted


def loopback_port_matches(port: int) -> list[str]:
    """Match expressions for TCP to ``port`` on a loopback address, one per IP version."""
    if not 1 <= port <= 65535:
        raise ChaosError(f"nftables: port must be in 1-65535, got {port}")
    return [
        f"tcp dport {port} ip daddr {LOOPBACK_V4}",
        f"tcp dport {port} ip6 daddr {LOOPBACK_V6}",
    ]


class NftTable:
    """One private nftables table (family ``inet``); :meth:`delete` is idempotent."""

    def __init__(self, name: str) -> None:
        if not TABLE_RE.match(name):
            raise ValueError(f"not a harness table name: {name!r}")
        self.name = name

    def __repr__(self) -> str:
        return f"NftTable({self.name!r})"

    @classmethod
    def create(cls) -> NftTable:
        """Create a new empty table ``harness_<our pid>_<random hex>``."""
        table = cls(f"{TABLE_PREFIX}{os.getpid()}_{secrets.token_hex(4)}")
        _checked("add", "table", FAMILY, table.name)
        return table

    def add_chain(self, chain: str = "input", hook: str = "input") -> None:
        """A base chain on ``hook`` at priority filter, policy accept (only our rules act)."""
        spec = f"{{ type filter hook {hook} priority filter; policy accept; }}"
        _checked("add", "chain", FAMILY, self.name, chain, spec)

    def add_rule(self, chain: str, rule: str) -> None:
        """Append ``rule`` (nft syntax, e.g. ``tcp dport 80 drop``) to ``chain``."""
        _checked("add", "rule", FAMILY, self.name, chain, *rule.split())

    def exists(self) -> bool:
        return _nft("list", "table", FAMILY, self.name).returncode == 0

    def delete(self) -> None:
        """Delete the table with its chains and rules; a table already gone is fine."""
        proc = _nft("delete", "table", FAMILY, self.name)
        if proc.returncode != 0 and self.exists():
            raise ChaosError(f"nft delete table {self.name}: {proc.stderr.strip() or 'failed'}")


def port_table(port: int, action: str) -> NftTable:
    """A new table whose input chain applies ``action`` to loopback TCP traffic to ``port``.

    Stale tables of dead harnesses are swept first. On any failure the new table is
    deleted before the error propagates, so nothing is left half-built.
    """
    matches = loopback_port_matches(port)
    sweep_stale()
    table = NftTable.create()
    try:
        table.add_chain("input", "input")
        for match in matches:
            table.add_rule("input", f"{match} {action}")
    except BaseException:
        table.delete()
        raise
    return table


class PortRuleFault(Fault):
    """A fault that is one nftables rule on the target's loopback port, in a private table.

    Subclasses give :meth:`action` (the nft statement for matching packets); apply creates
    the table (replacing one left by an earlier apply), revert deletes it.
    """

    kind = "network"
    needs_pid = False

    def __init__(self, params: Any = None) -> None:
        super().__init__(params)
        self._table: NftTable | None = None

    @classmethod
    def unsupported(cls) -> str | None:
        return nft_available()

    def action(self) -> str:
        raise NotImplementedError

    def apply(self, ctx: ChaosContext) -> None:
        self.revert(ctx)  # applying twice replaces the table, never leaks one
        self._table = port_table(self.params.port, self.action())

    def revert(self, ctx: ChaosContext) -> None:
        if self._table is not None:
            self._table.delete()
            self._table = None
