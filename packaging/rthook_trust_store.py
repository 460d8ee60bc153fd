"""PyInstaller runtime hook: make sure the frozen app finds CA certificates.

The bundled OpenSSL looks for certificates where the build machine's OpenSSL did (on Debian
/usr/lib/ssl). On another distribution that folder may not exist and every TLS connection
would fail verification. When the compiled-in location is missing we point SSL_CERT_FILE at
the first system bundle found, and only then at certifi's copy inside the bundle: the
system store follows the user's distribution updates and any CA their organisation adds.
Windows reads its own certificate store, so it is left alone.
"""

from __future__ import annotations

import os
import ssl
import sys
from collections.abc import Mapping, Sequence

SYSTEM_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Arch, Gentoo
    "/etc/pki/tls/certs/ca-bundle.crt",  # Fedora, RHEL
    "/etc/ssl/ca-bundle.pem",  # openSUSE
    "/etc/ssl/cert.pem",  # Alpine, macOS, BSDs
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",  # RHEL family, newer layout
)


def choose_ca_file(
    environ: Mapping[str, str],
    defaults: ssl.DefaultVerifyPaths,
    candidates: Sequence[str],
    fallback: str | None,
) -> str | None:
    """The CA file to export as SSL_CERT_FILE, or None when OpenSSL already finds one."""
    if environ.get("SSL_CERT_FILE") or environ.get("SSL_CERT_DIR"):
        return None  # the user chose
    if defaults.cafile or defaults.capath:
        return None  # get_default_verify_paths reports only paths that exist
    for path in candidates:
        if os.path.isfile(path):
            return path
    return fallback


def _certifi_bundle() -> str | None:
    try:
        import certifi
    except ImportError:
        return None
    return str(certifi.where())


if getattr(sys, "frozen", False) and sys.platform != "win32":
    _chosen = choose_ca_file(
        os.environ, ssl.get_default_verify_paths(), SYSTEM_BUNDLES, _certifi_bundle()
    )
    if _chosen:
        os.environ["SSL_CERT_FILE"] = _chosen
