"""Mutual TLS for the fake API Pix: the server asks for a client certificate, checks it against a test CA, and
hands its thumbprint to the app so that tokens can be bound to it (RFC 8705, ``x5t#S256``).

uvicorn does not put the peer certificate in the ASGI scope, so :class:`ClientCertProtocol` (an h11 protocol) reads
it from the TLS connection and adds ``scope["extensions"]["tls"]["client_cert_thumbprint"]``.
"""

from __future__ import annotations

import base64
import hashlib
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol


@dataclass(frozen=True)
class ServerTls:
    """The fake's server certificate and key, and the CA whose client certificates it accepts."""

    cert_file: str
    key_file: str
    client_ca_file: str


def thumbprint(der: bytes) -> str:
    """``x5t#S256``: base64url (no padding) of the SHA-256 of the DER certificate."""
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def pem_thumbprint(path: str | Path) -> str:
    """The thumbprint of the first certificate in a PEM file (to register a receiver's certificate)."""
    return thumbprint(ssl.PEM_cert_to_DER_cert(Path(path).read_text()))


def _with_thumbprint(app: ASGIApp, value: str) -> ASGIApp:
    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("extensions", {})["tls"] = {"client_cert_thumbprint": value}
        await app(scope, receive, send)

    return wrapped


class ClientCertProtocol(H11Protocol):
    """h11 with the verified client certificate's thumbprint in every request scope of the connection."""

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if der:
            self.app = _with_thumbprint(self.app, thumbprint(der))


def uvicorn_options(tls: ServerTls) -> dict[str, Any]:
    """uvicorn.Config arguments: TLS ≥ 1.2 by default, a client certificate asked for and verified when sent.

    ``CERT_OPTIONAL`` rather than ``REQUIRED`` keeps the admin API and the payer's pages usable from a browser;
    the API Pix itself refuses a request without a certificate.
    """
    return {
        "ssl_certfile": tls.cert_file,
        "ssl_keyfile": tls.key_file,
        "ssl_ca_certs": tls.client_ca_file,
        "ssl_cert_reqs": ssl.CERT_OPTIONAL,
        "http": ClientCertProtocol,
    }
