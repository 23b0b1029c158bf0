"""The embedded target's certificate for wss://: a CA and a leaf made for one run.

``target.embedded.tls: true`` serves the embedded target over TLS. The certificate is
made when the run starts (trustme: a throw-away CA, a leaf for ``127.0.0.1`` and
``localhost``) and written into the run directory, so the users trust exactly that CA
(``Request.ca_file``) and nothing on the machine has to change. The private key file is
created with mode 0600 and its content is never printed or logged; only its path travels,
on the target's command line (``--certfile``/``--keyfile``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: Folder of the run directory holding the files.
CERT_DIR = "tls"
#: Names the certificate is issued for: the loopback the embedded target listens on.
IDENTITIES = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class RunCerts:
    """Where one run's certificate files are.

    Attributes:
        ca_file: the CA certificate (PEM), for the clients to trust.
        certfile: the leaf certificate chain (PEM), for the server.
        keyfile: the leaf's private key (PEM, mode 0600), for the server.
    """

    ca_file: Path
    certfile: Path
    keyfile: Path

    @classmethod
    def at(cls, directory: Path) -> RunCerts:
        """The files' paths in ``directory`` (made or not)."""
        return cls(directory / "ca.pem", directory / "server.pem", directory / "server.key")


def make_run_certs(run_dir: Path) -> RunCerts:
    """Make a CA and a leaf for :data:`IDENTITIES`, write them under ``run_dir/tls``.

    Returns:
        The paths written; the key file has mode 0600 from its creation on.
    """
    import trustme  # only runs that ask for TLS pay for it

    directory = Path(run_dir) / CERT_DIR
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    certs = RunCerts.at(directory)
    ca = trustme.CA(organization_name="harness embedded target")
    leaf = ca.issue_cert(*IDENTITIES)
    ca.cert_pem.write_to_path(str(certs.ca_file))
    with open(certs.certfile, "wb") as f:
        for blob in leaf.cert_chain_pems:
            f.write(blob.bytes())
    fd = os.open(certs.keyfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), 0o600)  # an existing file keeps its mode on O_CREAT
        f.write(leaf.private_key_pem.bytes())
    return certs
