"""TLS material of the gRPC server and of its consumers, and the names a certificate carries.

Server side: `load_server_tls` reads the server's certificate chain and key and the consumer CA,
checks them (PEM, key matches certificate, CA is a CA), and returns the bytes grpc needs.
Client side: `load_client_tls` reads a consumer's certificate, key and the CA that issued the
server certificate. Both only read files; grpc credentials are made where they are used.

A client certificate's *names* (`certificate_names`) are its subject common name (CN) and its
DNS and URI subject alternative names; a `[[consumers]]` entry's `client_cert_name` must be one
of them for that certificate to act as that consumer.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.x509.oid import NameOID

from gateway.errors import ConfigError

Fail = Callable[[str, str, str], ConfigError]
"""(key, problem, fix) -> the ConfigError to raise: names the configuration file and key."""

LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost"})


def settings_fail(prefix: str = "grpc.") -> Fail:
    """A `Fail` for settings built in code (no configuration file to name)."""

    def fail(key: str, problem: str, fix: str = "") -> ConfigError:
        return ConfigError("settings", prefix + key, problem, fix)

    return fail


@dataclass(frozen=True, slots=True)
class ServerTls:
    """PEM bytes: the server's certificate chain and private key, and the consumer CA(s)."""

    cert_chain: bytes
    private_key: bytes
    client_ca: bytes


@dataclass(frozen=True, slots=True)
class ClientTls:
    """PEM bytes a consumer connects with. `server_name` overrides the name the server
    certificate is checked against (default: the host of the target)."""

    ca: bytes
    cert: bytes
    key: bytes
    server_name: str | None = None


def _read(path: Path, key: str, fail: Fail) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise fail(
            key, f"cannot read {path}: {exc.strerror or exc}", "give a readable file"
        ) from exc


def _certificates(data: bytes, path: Path, key: str, fail: Fail) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise fail(
            key, f"{path} holds no PEM certificate", "give a PEM file (BEGIN CERTIFICATE)"
        ) from exc
    return certs


def _private_key(data: bytes, path: Path, key: str, fail: Fail) -> PrivateKeyTypes:
    try:
        return serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise fail(
            key,
            f"{path} is not an unencrypted PEM private key",
            "give the key as PEM without a passphrase (BEGIN PRIVATE KEY), mode 0600",
        ) from exc


def _public_der(public_key: PublicKeyTypes) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _check_pair(
    certs: list[x509.Certificate], private: PrivateKeyTypes, path: Path, key: str, fail: Fail
) -> None:
    if _public_der(certs[0].public_key()) != _public_der(private.public_key()):
        raise fail(
            key,
            f"{path} is not the private key of the first certificate in the certificate file",
            "give the key that belongs to the certificate (leaf certificate first in the file)",
        )


def load_server_tls(cert: Path, key: Path, client_ca: Path, fail: Fail | None = None) -> ServerTls:
    """The server's TLS material, checked. Raises ConfigError naming the key at fault."""
    fail = fail or settings_fail()
    cert_data = _read(cert, "tls_cert", fail)
    key_data = _read(key, "tls_key", fail)
    ca_data = _read(client_ca, "client_ca", fail)
    certs = _certificates(cert_data, cert, "tls_cert", fail)
    _check_pair(certs, _private_key(key_data, key, "tls_key", fail), key, "tls_key", fail)
    for ca in _certificates(ca_data, client_ca, "client_ca", fail):
        try:
            is_ca = ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        if not is_ca:
            raise fail(
                "client_ca",
                f"{client_ca} holds a certificate that is not a CA ({ca.subject.rfc4514_string()})",
                "give the certificate of the CA that issues the consumers' client certificates",
            )
    return ServerTls(cert_data, key_data, ca_data)


def load_client_tls(
    ca: Path, cert: Path, key: Path, server_name: str | None = None, fail: Fail | None = None
) -> ClientTls:
    """A consumer's TLS material, checked. Raises ConfigError naming the option at fault."""
    fail = fail or settings_fail("--")
    ca_data = _read(ca, "ca", fail)
    cert_data = _read(cert, "cert", fail)
    key_data = _read(key, "key", fail)
    _certificates(ca_data, ca, "ca", fail)
    certs = _certificates(cert_data, cert, "cert", fail)
    _check_pair(certs, _private_key(key_data, key, "key", fail), key, "key", fail)
    return ClientTls(ca_data, cert_data, key_data, server_name or None)


def certificate_names(pem: bytes) -> frozenset[str]:
    """The subject CN and the DNS and URI subject alternative names of a PEM certificate."""
    cert = x509.load_pem_x509_certificate(pem)
    names = {
        value
        for attribute in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if isinstance(value := attribute.value, str)
    }
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return frozenset(names)
    names.update(san.get_values_for_type(x509.DNSName))
    names.update(san.get_values_for_type(x509.UniformResourceIdentifier))
    return frozenset(names)


def is_loopback(listen: str) -> bool:
    """Whether "host:port" listens on loopback only (127.0.0.0/8, ::1, localhost)."""
    host = listen.rpartition(":")[0].strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
