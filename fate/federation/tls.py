"""TLS contexts and certificate identities for routers and their clients.

Identity is `party-<id>` in the certificate (CN and DNS SAN). Servers demand a
client certificate from the federation CA and read the caller's party id from
it. Clients verify a router by asking TLS to match the hostname `party-<id>`
(sent as SNI / server_hostname), so a route cannot be answered by a different
party even if an address is hijacked.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fate.federation.config import TLSConfig
from fate.federation.errors import ConfigError

_IDENTITY = re.compile(r"party-(\d+)")
# fatectl ships revocation lists inside the CA file; OpenSSL reads both from it.
_CRL_MARK = b"-----BEGIN X509 CRL-----"


def identity(party_id: int) -> str:
    return f"party-{party_id}"


def _load_own(ctx: ssl.SSLContext, tls: TLSConfig) -> ssl.SSLContext:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_verify_locations(cafile=tls.ca_file)
        ctx.load_cert_chain(tls.cert_file, tls.key_file)
    except (OSError, ssl.SSLError) as err:
        raise ConfigError(f"cannot load TLS files ({tls.ca_file}, {tls.cert_file}, {tls.key_file}): {err}") from None
    if has_crl(tls.ca_file):
        # Every leaf is checked against its issuer's CRL: a revoked party is refused at the handshake.
        ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    return ctx


def has_crl(ca_file: str) -> bool:
    try:
        return _CRL_MARK in Path(ca_file).read_bytes()
    except OSError:
        return False


class ReloadingContext(ssl.SSLContext):
    """A listener's context whose new connections use whatever context `current()` returns then.

    asyncio binds one SSLContext to a listening socket for its whole life; this one hands each
    new connection to the latest context (rotated certificates, a new CA bundle or CRL) while
    connections already open keep theirs, so a reload interrupts nothing.
    """

    current: Callable[[], ssl.SSLContext]

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        return self.current().wrap_bio(*args, **kwargs)


def reloading_server_context(current: Callable[[], ssl.SSLContext]) -> ReloadingContext:
    ctx = ReloadingContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.current = current
    return ctx


def server_context(tls: TLSConfig) -> ssl.SSLContext | None:
    """Context for a router's listener: client certificates from the federation CA are mandatory."""
    if not tls.enabled:
        return None
    ctx = _load_own(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), tls)
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def client_context(tls: TLSConfig, check_hostname: bool = True) -> ssl.SSLContext | None:
    """Context for connecting to a router with this party's certificate."""
    if not tls.enabled:
        return None
    ctx = _load_own(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), tls)
    ctx.check_hostname = check_hostname
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def peer_party_id(peercert: Any) -> int | None:
    """The party id a verified peer certificate (ssl's getpeercert() dict) proves, if any."""
    if not isinstance(peercert, dict):
        return None
    for rdn in peercert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                match = _IDENTITY.fullmatch(value)
                if match:
                    return int(match.group(1))
    return None
