"""TLS for ``dvvr serve``: WebXR needs a secure context (https, or localhost),
so a headset's browser on the LAN needs https.

``context(certfile, keyfile)`` loads a certificate of one's own;
``self_signed(folder, host)`` makes one (with the ``cryptography``
package) for this machine's names and addresses, kept in ``folder`` and
made again only when the names change or it nears its end.  A browser
asks once to accept a self-signed certificate; its SHA-256 fingerprint,
printed at start-up, is what to compare.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

VALID_DAYS = 397  # browsers refuse server certificates valid for longer
RENEW_DAYS = 30


@dataclass(frozen=True)
class Certificate:
    certfile: Path
    keyfile: Path
    fingerprint: str  # SHA-256, colon-separated hex as browsers show it
    names: tuple[str, ...]


def context(certfile: str | os.PathLike, keyfile: str | os.PathLike | None = None) -> ssl.SSLContext:
    """A server context for the certificate (and key: ``certfile`` may hold both)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(certfile), str(keyfile) if keyfile else None)
    return ctx


def host_names(host: str, lan_address: str | None = None) -> tuple[list[str], list[str]]:
    """``(DNS names, IP addresses)`` a browser may use to reach a server bound to ``host``."""
    names, addresses = ["localhost", socket.gethostname()], ["127.0.0.1", "::1"]
    for candidate in (host, lan_address):
        if not candidate or candidate in ("0.0.0.0", "::"):
            continue
        try:
            addresses.append(str(ipaddress.ip_address(candidate.strip("[]"))))
        except ValueError:
            names.append(candidate)
    return sorted(set(filter(None, names))), sorted(set(addresses))


def _fingerprint(cert) -> str:
    from cryptography.hazmat.primitives import hashes

    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def _covers(cert, names: list[str], addresses: list[str]) -> bool:
    from cryptography import x509

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    have_names = set(san.get_values_for_type(x509.DNSName))
    have_addresses = {str(a) for a in san.get_values_for_type(x509.IPAddress)}
    fresh = cert.not_valid_after_utc - dt.datetime.now(dt.timezone.utc) > dt.timedelta(days=RENEW_DAYS)
    return fresh and set(names) <= have_names and set(addresses) <= have_addresses


def self_signed(folder: Path, host: str, lan_address: str | None = None) -> Certificate:
    """The self-signed certificate in ``folder`` for ``host``'s names, made if
    there is none that covers them."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    names, addresses = host_names(host, lan_address)
    certfile, keyfile = folder / "dvvr-cert.pem", folder / "dvvr-key.pem"
    if certfile.exists() and keyfile.exists():
        try:
            cert = x509.load_pem_x509_certificate(certfile.read_bytes())
            if _covers(cert, names, addresses):
                return Certificate(certfile, keyfile, _fingerprint(cert), (*names, *addresses))
        except ValueError:
            pass  # unreadable: made again below
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"dvvr on {socket.gethostname()}"[:64])])
    now = dt.datetime.now(dt.timezone.utc)
    san = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=VALID_DAYS))
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    descriptor = os.open(keyfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # the key: its owner only
    with os.fdopen(descriptor, "wb") as out:
        out.write(key_pem)
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return Certificate(certfile, keyfile, _fingerprint(cert), (*names, *addresses))
