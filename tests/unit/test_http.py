"""The urllib3 transport's error wording (the rest of _http is exercised through test_registry)."""

from __future__ import annotations

import ssl

import pytest
import urllib3

from ocikit._registry._http import _ssl_reason


@pytest.mark.parametrize("error,expected", [
    (ssl.SSLError(1, "[SSL: UNEXPECTED_MESSAGE] unexpected message (_ssl.c:1006)"), "SSLError: unexpected message"),
    (ssl.SSLEOFError(8, "EOF occurred in violation of protocol (_ssl.c:2427)"),
     "SSLError: EOF occurred in violation of protocol"),
    ("SSLError(SSLEOFError(8, 'EOF occurred in violation of protocol (_ssl.c:2427)'))",
     "SSLError: EOF occurred in violation of protocol"),
    ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate (_ssl.c:1006)",
     "certificate verify failed (self-signed certificate)"),
    ("[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)",
     "the server does not speak TLS (wrong version number)"),
    ("", "SSLError"),
    ("bad handshake via https://user:secret@host/x", "SSLError"),  # nothing URL-like is echoed
])
def test_tls_failure_reason_keeps_openssl_words(error: object, expected: str) -> None:
    """A TLS failure other than verification/plain-HTTP used to read just 'failed: SSLError'."""
    assert _ssl_reason(urllib3.exceptions.SSLError(error)) == expected
