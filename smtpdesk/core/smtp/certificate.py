"""What a server's TLS certificate says, and its SHA-256 fingerprint for pinning.

The details are read from the certificate itself (DER, via ``cryptography``), so they
are known even when the certificate is not trusted: that is when the user needs them,
to decide whether to trust it ("Trust this certificate" pins its fingerprint).
"""

from __future__ import annotations

import hashlib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.x509.oid import NameOID

from smtpdesk.core.wording import counted

EXPIRY_WARNING_DAYS = 14


@dataclass(frozen=True)
class CertificateInfo:
    """The server's certificate and the TLS session it was seen in."""

    subject: str
    issuer: str
    names: tuple[str, ...]  # the DNS names and addresses it is valid for
    not_after: datetime
    sha256: str  # 64 lower-case hex digits, as ``tls_pin_sha256`` stores it
    self_signed: bool
    protocol: str = ""
    cipher: str = ""

    def days_left(self, now: datetime | None = None) -> float:
        return (self.not_after - (now or datetime.now(UTC))).total_seconds() / 86400

    def expiry_warning(self, now: datetime | None = None) -> str:
        """A sentence when the certificate has expired or expires within 14 days, else ""."""
        days = self.days_left(now)
        if days < 0:
            return f"The certificate expired on {self.not_after:%Y-%m-%d}."
        if days < EXPIRY_WARNING_DAYS:
            return (
                f"The certificate expires in {counted(int(days), 'day')}, "
                f"on {self.not_after:%Y-%m-%d}: "
                "ask the provider to renew it."
            )
        return ""

    def summary(self) -> str:
        """One line for the TLS step: protocol, cipher, subject, issuer, names, expiry."""
        parts = [
            self.protocol,
            self.cipher,
            f"subject {self.subject}",
            "self-signed" if self.self_signed else f"issuer {self.issuer}",
            f"names {', '.join(self.names)}" if self.names else "",
            f"expires {self.not_after:%Y-%m-%d}",
        ]
        return "; ".join(p for p in parts if p)


def fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def format_fingerprint(sha256: str) -> str:
    """``AB:CD:…``, the way browsers and ``openssl x509 -fingerprint`` show it."""
    upper = sha256.upper()
    return ":".join(upper[i : i + 2] for i in range(0, len(upper), 2))


def _name(name: x509.Name) -> str:
    common = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    organisation = name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    picked = [str(a.value) for a in (*common, *organisation)]
    return ", ".join(picked) if picked else name.rfc4514_string()


def _names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        extension = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return ()
    alt = extension.value
    dns = alt.get_values_for_type(x509.DNSName)
    addresses = [str(a) for a in alt.get_values_for_type(x509.IPAddress)]
    return tuple(dict.fromkeys([*dns, *addresses]))


def describe(der: bytes, protocol: str = "", cipher: str = "") -> CertificateInfo:
    cert = x509.load_der_x509_certificate(der)
    return CertificateInfo(
        subject=_name(cert.subject),
        issuer=_name(cert.issuer),
        names=_names(cert),
        not_after=cert.not_valid_after_utc,
        sha256=fingerprint(der),
        self_signed=cert.subject == cert.issuer,
        protocol=protocol,
        cipher=cipher,
    )


def from_ssl_object(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> CertificateInfo | None:
    """The peer's certificate of a finished handshake (verified or not), or None."""
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    cipher = ssl_object.cipher()
    return describe(der, str(ssl_object.version() or ""), str(cipher[0]) if cipher else "")
