"""Embedded IMAP and SMTP servers on loopback, for the demo and for trying spocbot out.

``[backend] kind = "embedded"`` runs, inside the spocbot process, a pymap IMAP server (its
in-memory "dict" backend) and an aiosmtpd SMTP server that delivers every recipient into that
IMAP server with a real IMAP APPEND.  Both listen on 127.0.0.1 on ports chosen by the system.
Mailboxes are created on first delivery or login; the mail lives only as long as the process.
Never use this for real mail: it exists so that ``make demo`` needs no root and no services.
"""

from __future__ import annotations

import asyncio
import imaplib
import logging
import secrets
import socket
import threading
from argparse import Namespace
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbeddedEndpoints:
    imap_port: int
    smtp_port: int
    password: str
    host: str = "127.0.0.1"


class EmbeddedMailServer:
    """Start with :meth:`start`, stop with :meth:`stop` (or use as a context manager)."""

    def __init__(self, users: Iterable[str] = ()) -> None:
        self._initial_users = [u.lower() for u in users]
        self.password = secrets.token_urlsafe(16)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._imap_port = 0
        self._smtp_controller: Any = None
        self._login: Any = None
        self._config: Any = None
        self._known: set[str] = set()

    def __enter__(self) -> EmbeddedEndpoints:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> EmbeddedEndpoints:
        self._thread = threading.Thread(target=self._run, name="embedded-imap", daemon=True)
        self._thread.start()
        if not self._ready.wait(30) or self._error is not None:
            raise RuntimeError(f"embedded IMAP server did not start: {self._error}")
        from aiosmtpd.controller import Controller

        smtp_port = _free_port()  # aiosmtpd's controller cannot listen on port 0
        self._smtp_controller = Controller(
            _DeliverToImap(self), hostname="127.0.0.1", port=smtp_port, ready_timeout=30
        )
        self._smtp_controller.start()
        return EmbeddedEndpoints(self._imap_port, smtp_port, self.password)

    def stop(self) -> None:
        if self._smtp_controller is not None:
            self._smtp_controller.stop()
            self._smtp_controller = None
        if self._loop is not None and self._loop.is_running():
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    async def _shutdown(self) -> None:
        self._server.close()
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def imap_port(self) -> int:
        """The IMAP port, once started."""
        return self._imap_port

    def ensure_user(self, address: str) -> None:
        """Create a mailbox for ``address`` (with the server's password) if it has none."""
        address = address.lower()
        if address in self._known or self._loop is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._add_user(address), self._loop)
        future.result(10)

    # -- inside the server thread -----------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # report start-up failures to start()
            self._error = exc
            self._ready.set()
            return
        loop.run_forever()
        loop.close()

    async def _serve(self) -> None:
        from proxyprotocol.reader import ProxyProtocolReader
        from pymap.backend.dict import DictBackend
        from pymap.imap import IMAPServer

        args = Namespace(
            demo_data=False,
            demo_user="demouser",
            demo_password=secrets.token_urlsafe(16),
            debug=False,
            host="127.0.0.1",
            port=0,
            cert=None,
            key=None,
            tls=False,
            proxy_protocol=None,
            passlib_cfg=None,
            inherited_sockets=None,
            skip_services=[],
        )
        backend, config = await DictBackend.init(args, secure_auth=False, invalid_user_sleep=0.0)
        config.apply_context()
        self._login, self._config = backend.login, config
        for user in self._initial_users:
            await self._add_user(user)
        callback = ProxyProtocolReader(config.proxy_protocol).get_callback(
            IMAPServer(backend.login, config)
        )
        server = await asyncio.start_server(callback, host="127.0.0.1", port=0)
        self._imap_port = server.sockets[0].getsockname()[1]
        self._server = server
        self._ready.set()

    async def _add_user(self, address: str) -> None:
        from pymap.backend.dict import Identity
        from pymap.user import Passwords, UserMetadata

        if address in self._known:
            return
        hashed = await Passwords(self._config).hash_password(self.password)
        identity = Identity(address, self._login, None, frozenset())
        await identity.set(UserMetadata(self._config, address, password=hashed))
        self._known.add(address)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class _DeliverToImap:
    """aiosmtpd handler: every accepted recipient gets the message by IMAP APPEND."""

    def __init__(self, server: EmbeddedMailServer) -> None:
        self._server = server

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if "@" not in address:
            return "550 5.1.3 not an address"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data: bytes = envelope.original_content or envelope.content
        for recipient in envelope.rcpt_tos:
            await asyncio.get_running_loop().run_in_executor(None, self._append, recipient, data)
        return "250 2.0.0 delivered"

    def _append(self, recipient: str, data: bytes) -> None:
        self._server.ensure_user(recipient)
        endpoints_port = self._server._imap_port
        client = imaplib.IMAP4("127.0.0.1", endpoints_port)
        try:
            client.login(recipient.lower(), self._server.password)
            client.append("INBOX", None, None, data)
        finally:
            client.logout()
