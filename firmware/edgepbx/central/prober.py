"""SIP OPTIONS keep-alive to central, over its own socket on the event loop.

Why OPTIONS and not registration: branch gateways and SBCs check trunk peers this way
(Asterisk `qualify`, Kamailio's dispatcher, Cisco SRST/OPTIONS ping), it needs nothing
configured on central (every SIP server answers OPTIONS), and it tests exactly the path a
forwarded INVITE takes, over the same transport (UDP, or TCP when the URI says
;transport=tcp). Any SIP response but 503 counts as alive; silence, an ICMP error or a
refused connection does not.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import re
import secrets
import socket
import ssl
import time
from typing import Awaitable, Callable

from edgepbx.sip.uri import is_tls, transport_param

log = logging.getLogger("edgepbx.central")
_URI = re.compile(r"^sips?:(?:[^@]+@)?(?P<host>\[[^\]]+\]|[^:;>]+)(?::(?P<port>\d+))?")


def target(uri: str) -> tuple[str, int]:
    m = _URI.match(uri)
    if not m:
        raise ValueError(f"cannot probe {uri!r}")
    return m.group("host").strip("[]"), int(m.group("port") or (5061 if is_tls(uri) else 5060))


def options_request(uri: str, local: tuple[str, int], call_id: str, cseq: int, branch: str,
                    transport: str = "udp") -> bytes:
    """An OPTIONS over `transport` ("udp", "tcp", "tls")."""
    host, port = local
    return (f"OPTIONS {uri} SIP/2.0\r\n"
            f"Via: SIP/2.0/{transport.upper()} {host}:{port};branch=z9hG4bK{branch};rport\r\n"
            f"Max-Forwards: 70\r\n"
            f"From: <sip:edgepbx@{host}:{port}>;tag={call_id[:10]}\r\n"
            f"To: <{uri}>\r\n"
            f"Call-ID: {call_id}\r\n"
            f"CSeq: {cseq} OPTIONS\r\n"
            f"Accept: application/sdp\r\n"
            f"User-Agent: edgepbx-probe\r\n"
            f"Content-Length: 0\r\n\r\n").encode()


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[int]] = {}

    def datagram_received(self, data: bytes, addr: tuple) -> None:  # noqa: ANN001
        text = data.decode("utf-8", "replace")
        m = re.match(r"SIP/2\.0 (\d{3})", text)
        branch = re.search(r"branch=z9hG4bK([A-Za-z0-9]+)", text)
        if m and branch:
            fut = self.waiting.get(branch.group(1))
            if fut is not None and not fut.done() and int(m.group(1)) >= 200:
                fut.set_result(int(m.group(1)))

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable and the like
        for fut in self.waiting.values():
            if not fut.done():
                fut.set_exception(exc)


class _UdpChannel:
    """One UDP socket for every probe; each answer is matched to its probe by the branch."""

    def __init__(self, bind_host: str) -> None:
        self.bind_host = bind_host
        self.transport: asyncio.DatagramTransport | None = None
        self.proto: _Protocol | None = None

    async def ask(self, peer: tuple[str, int], request: Callable[[tuple[str, int]], bytes], branch: str) -> int:
        loop = asyncio.get_running_loop()
        if self.transport is None or self.proto is None:
            self.transport, self.proto = await loop.create_datagram_endpoint(_Protocol, local_addr=(self.bind_host, 0))
        fut: asyncio.Future[int] = loop.create_future()
        self.proto.waiting[branch] = fut
        try:
            self.transport.sendto(request(self.transport.get_extra_info("sockname")[:2]), peer)
            return await fut
        finally:
            self.proto.waiting.pop(branch, None)

    def reset(self) -> None:
        """Nothing to do: the socket serves the next probe as it is."""

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        self.transport = self.proto = None


class _TcpChannel:
    """One TCP connection to central, kept between probes (RFC 3261 18: a client may reuse it)
    and opened again after any failure."""

    def __init__(self, bind_host: str) -> None:
        self.bind_host = bind_host
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def ask(self, peer: tuple[str, int], request: Callable[[tuple[str, int]], bytes], branch: str) -> int:
        """Sends the request (made for this connection's local address) to `peer`, an address
        already looked up; the final status."""
        if self.writer is not None and self.writer.is_closing():   # central closed it, or went away
            self.close()
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(*peer, local_addr=(self.bind_host, 0))
        assert self.reader is not None
        self.writer.write(request(self.writer.get_extra_info("sockname")[:2]))
        await self.writer.drain()
        while True:
            head = (await self.reader.readuntil(b"\r\n\r\n")).decode("utf-8", "replace")
            length = re.search(r"^(?:Content-Length|l)\s*:\s*(\d+)", head, re.IGNORECASE | re.MULTILINE)
            if length and int(length.group(1)):
                await self.reader.readexactly(int(length.group(1)))
            status = re.match(r"SIP/2\.0 (\d{3})", head)
            if status and int(status.group(1)) >= 200 and f"branch=z9hG4bK{branch}" in head:
                return int(status.group(1))

    def reset(self) -> None:
        """After a failure: the next probe opens a new connection."""
        self.close()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class _TlsChannel(_TcpChannel):
    """The TCP channel over TLS, checked as the forwards are (edgepbx.sip.endpoint): central's
    certificate must chain to [sip] tls_ca (or the system's CAs) and name central's host; TLS
    1.2 or 1.3. A handshake that fails is a failed probe whose detail says why. The peer's
    certificate is kept (`peer_cert`) for the expiry alarm."""

    def __init__(self, bind_host: str, server_name: str, context: ssl.SSLContext) -> None:
        super().__init__(bind_host)
        self.server_name, self.context = server_name, context
        self.peer_cert: dict | None = None

    async def ask(self, peer: tuple[str, int], request: Callable[[tuple[str, int]], bytes], branch: str) -> int:
        if self.writer is not None and self.writer.is_closing():
            self.close()
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(
                *peer, local_addr=(self.bind_host, 0), ssl=self.context, server_hostname=self.server_name,
                ssl_handshake_timeout=5.0)
            self.peer_cert = self.writer.get_extra_info("peercert")
        return await super().ask(peer, request, branch)


def tls_context(ca: str | None, cert: str | None = None, key: str | None = None) -> ssl.SSLContext:
    """A client context as the box's TLS to central: TLS 1.2+, chain and name checked against
    `ca` (None: the system's CAs), the box's own certificate for a peer that asks for one."""
    context = ssl.create_default_context(cafile=ca)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert and key:
        context.load_cert_chain(cert, key)
    return context


def failure_detail(exc: BaseException) -> str:
    """What a failed probe says: the TLS reason first (a certificate that does not verify)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS: certificate not accepted: {exc.verify_message or exc.reason}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: handshake failed: {exc.reason or exc}"
    return getattr(exc, "strerror", None) or type(exc).__name__


Resolve = Callable[[str, int], Awaitable[list]]     # loop.getaddrinfo's shape: [(family, ..., sockaddr)]


class _Address:
    """Central's address, looked up off the event loop and kept for RESOLVED_FOR_S.

    A host name in central's URI used to be resolved by sendto() itself, blocking the loop:
    when the WAN is down, exactly when the box must answer calls locally, the resolver's
    timeouts froze every call's IVR for seconds at each probe. One lookup runs at a time."""

    RESOLVED_FOR_S = 60.0

    def __init__(self, host: str, port: int, resolve: Resolve | None) -> None:
        self.host, self.port, self.resolve = host, port, resolve
        self.known: tuple[str, int] | None = None
        self.until = 0.0
        self.lookup: asyncio.Task | None = None

    async def get(self, timeout_s: float) -> tuple[str, int]:
        now = time.monotonic()
        if self.known and now < self.until:
            return self.known
        if self.lookup is None or self.lookup.done():
            resolve = self.resolve or functools.partial(asyncio.get_running_loop().getaddrinfo,
                                                        family=socket.AF_INET)
            self.lookup = asyncio.ensure_future(resolve(self.host, self.port))
        infos = await asyncio.wait_for(asyncio.shield(self.lookup), timeout_s)
        self.known, self.until = infos[0][4][:2], time.monotonic() + self.RESOLVED_FOR_S
        return self.known


class OptionsProber:
    def __init__(self, uri: str, bind_host: str, on_result: Callable[[bool, float, str], None],
                 interval_s: float = 1.0, timeout_s: float = 1.0, resolve: Resolve | None = None,
                 tls: ssl.SSLContext | None = None) -> None:
        """`resolve` looks central's host up (default: the loop's getaddrinfo, in a thread);
        `tls` is the context for a sips: or ;transport=tls URI (default: tls_context(None))."""
        self.tls = tls
        self.uri = uri
        self.peer = target(uri)
        self.address = _Address(*self.peer, resolve)
        self.bind_host = bind_host
        self.on_result = on_result
        self.interval_s, self.timeout_s = interval_s, timeout_s
        self.call_id = secrets.token_hex(12)
        self.channel: _TlsChannel | None = None     # over TLS: holds central's certificate
        self.last_rtt_s: float | None = None         # the last answered probe's round trip
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="central-probe")

    async def stop(self) -> None:
        if self.address.lookup is not None:
            self.address.lookup.cancel()
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        transport = "tls" if is_tls(self.uri) else "tcp" if transport_param(self.uri) == "tcp" else "udp"
        channel: _UdpChannel | _TcpChannel
        if transport == "tls":
            channel = self.channel = _TlsChannel(self.bind_host, self.peer[0], self.tls or tls_context(None))
        else:
            channel = _TcpChannel(self.bind_host) if transport == "tcp" else _UdpChannel(self.bind_host)
        cseq = 0
        try:
            while True:
                started = time.monotonic()
                cseq += 1
                branch = secrets.token_hex(8)
                answered, detail = False, "timeout"
                try:
                    peer = await self.address.get(self.timeout_s)
                    code = await asyncio.wait_for(channel.ask(
                        peer, lambda local: options_request(self.uri, local, self.call_id, cseq, branch, transport),
                        branch), max(0.05, self.timeout_s - (time.monotonic() - started)))
                    answered, detail = code != 503, f"{code}"
                    self.last_rtt_s = time.monotonic() - started
                except asyncio.TimeoutError:
                    channel.reset()
                except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
                    detail = failure_detail(exc)
                    channel.reset()
                except Exception as exc:  # noqa: BLE001 - the probe must outlive any surprise, or the
                    detail = f"probe error: {exc!r}"   # link would stay "up" for ever
                    log.warning("central probe: %s", detail)
                    channel.reset()
                self.on_result(answered, time.monotonic(), detail)
                await asyncio.sleep(max(0.0, self.interval_s - (time.monotonic() - started)))
        finally:
            channel.close()
