"""Helpers of the credential proxy tests: a throw-away CA and a 127.0.0.1 certificate it signed,
and the stand-in Anthropic API (a real TLS server process) that records request headers."""

from __future__ import annotations

import datetime
import ipaddress
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from testkit import waiter

STANDINS = Path(__file__).parent / "standins"
wait_for = waiter(15.0)


@dataclass(frozen=True)
class Certs:
    ca: Path  # PEM of the CA: what gated --proxy-ca-file trusts
    cert: Path  # the server's certificate for 127.0.0.1
    key: Path


def make_certs(where: Path) -> Certs:
    """A CA and a server certificate for IP 127.0.0.1 signed by it."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "switchboard test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    certs = Certs(where / "ca.pem", where / "server.pem", where / "server.key")
    certs.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    certs.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    certs.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certs


@dataclass
class ApiStandin:
    """The running stand-in API: its URL and the requests it recorded."""

    proc: subprocess.Popen[bytes]
    port: int
    record: Path

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def requests(self) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines()]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def start_api(where: Path, certs: Certs) -> ApiStandin:
    record, port_file = where / "api-requests.jsonl", where / "api.port"
    proc = subprocess.Popen(
        [
            sys.executable,
            str(STANDINS / "anthropic_api.py"),
            str(certs.cert),
            str(certs.key),
            str(record),
            str(port_file),
        ]
    )
    wait_for(lambda: port_file.exists() or proc.poll() is not None, what="the stand-in API")
    assert proc.poll() is None, "the stand-in API exited"
    return ApiStandin(proc, int(port_file.read_text()), record)


def request_headers(entry: dict[str, Any]) -> dict[str, list[str]]:
    """A recorded request's headers, names lower-cased, every value kept."""
    found: dict[str, list[str]] = {}
    for name, value in entry["headers"]:
        found.setdefault(name.lower(), []).append(value)
    return found
