"""A running router takes new certificates, trust (CA bundle, CRL) and routes without a restart.

TLS files are watched by modification time (Kubernetes and fatectl both replace them by
rename) and reread on SIGHUP; so are the routes, which `python -m fate router` rereads from
its config file on SIGHUP. New contexts serve new connections only: open connections,
long-polls and forwards in flight keep theirs, so no job notices. A file that cannot be
loaded (half-written, wrong key) leaves the previous contexts in place and is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from fate.federation.config import RouterConfig, TLSConfig
from fate.federation.errors import ConfigError
from fate.federation.tls import client_context, server_context

log = logging.getLogger("fate.router")
WATCH_SECONDS = 1.0
Stamp = tuple[tuple[str, int, int], ...]


def _stamp(tls: TLSConfig) -> Stamp:
    out = []
    for path in (tls.ca_file, tls.cert_file, tls.key_file):
        try:
            st = Path(path).stat()
            out.append((path, st.st_mtime_ns, st.st_ino))
        except OSError:
            out.append((path, 0, 0))
    return tuple(out)


def revoked_serials(ca_file: str) -> frozenset[int]:
    """Serial numbers the CRLs in the CA file list (its integrity is the CA file's own)."""
    from cryptography import x509

    from fate.federation.tls import has_crl

    if not has_crl(ca_file):
        return frozenset()
    serials: set[int] = set()
    data = Path(ca_file).read_bytes()
    for block in data.split(b"-----END X509 CRL-----")[:-1]:
        start = block.find(b"-----BEGIN X509 CRL-----")
        pem = block[start:] + b"-----END X509 CRL-----\n"
        with contextlib.suppress(ValueError):
            serials.update(r.serial_number for r in x509.load_pem_x509_crl(pem))
    return frozenset(serials)


class TLSState:
    """The router's current TLS contexts and revoked serials, rebuilt when its files change."""

    def __init__(self, tls: TLSConfig) -> None:
        self.tls = tls
        self.server: ssl.SSLContext | None = server_context(tls)
        self.verify_id = client_context(tls, check_hostname=True)
        self.verify_ca = client_context(tls, check_hostname=False)
        self.revoked = revoked_serials(tls.ca_file) if tls.enabled else frozenset()
        self._stamp = _stamp(tls) if tls.enabled else ()
        self.listeners: list[Callable[[], None]] = []

    def refresh(self, force: bool = False) -> bool:
        """Reload when the files changed (or when forced); True when new contexts are in place."""
        if not self.tls.enabled:
            return False
        stamp = _stamp(self.tls)
        if stamp == self._stamp and not force:
            return False
        try:
            server = server_context(self.tls)
            verify_id = client_context(self.tls, check_hostname=True)
            verify_ca = client_context(self.tls, check_hostname=False)
            revoked = revoked_serials(self.tls.ca_file)
        except (ConfigError, OSError, ValueError) as err:
            log.warning("TLS files changed but cannot be loaded; keeping the previous ones: %s", err)
            return False
        self.server, self.verify_id, self.verify_ca, self.revoked = server, verify_id, verify_ca, revoked
        self._stamp = stamp
        log.info("TLS reloaded: %s (%d revoked serials)", self.tls.cert_file, len(revoked))
        for listener in self.listeners:
            listener()
        return True

    def current_server(self) -> ssl.SSLContext:
        assert self.server is not None
        return self.server

    def is_revoked(self, peercert: Any) -> bool:
        """Whether a verified peer certificate (getpeercert() dict) is on the CRL now.

        The handshake checks new connections; this catches keep-alive connections opened
        before the revocation.
        """
        if not self.revoked or not isinstance(peercert, dict):
            return False
        try:
            return int(str(peercert.get("serialNumber", "")), 16) in self.revoked
        except ValueError:
            return False


def with_new_routes(old: RouterConfig, new: RouterConfig) -> RouterConfig:
    """old with new's routes; what else changed needs a restart and is only logged."""
    fixed = [name for name in ("party_id", "role", "listen", "tls", "data_dir") if getattr(old, name) != getattr(new, name)]
    if fixed:
        log.warning("config changes to %s take effect only after a restart", ", ".join(fixed))
    return replace(old, routes=new.routes, default_route=new.default_route)


async def watch(state: TLSState, interval: float = WATCH_SECONDS) -> None:
    while True:
        await asyncio.sleep(interval)
        state.refresh()
