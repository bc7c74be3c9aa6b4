"""HTTPS on 127.0.0.1: a threaded http.server whose connections are TLS-wrapped.

The TLS handshake happens in the connection's own thread (not in the accept loop), so a
client that stalls cannot hold up others.  Every live connection is tracked so `close()`
can shut the sockets of idle keep-alive connections (msal's requests session and httpx
pools keep them open); their threads then end and `server_close()` joins them, which
leaves no thread or socket behind for pytest's unraisable/ResourceWarning checks.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .pipeline import Pipeline
from .wire import Request, Response

logger = logging.getLogger(__name__)

# Idle keep-alive connections and stalled clients give up after this long.
CONNECTION_TIMEOUT = 30.0
WRITE_CHUNK = 256 * 1024


class TLSServer(ThreadingHTTPServer):
    """ThreadingHTTPServer over TLS, with connection tracking for a clean shutdown."""

    daemon_threads = True  # never keep the interpreter alive; close() still joins them
    block_on_close = True

    def __init__(
        self, ssl_context: ssl.SSLContext, make_pipeline: Callable[[str], Pipeline]
    ) -> None:
        """Bind a free port; `make_pipeline` gets the authority (which names that port)."""
        self.ssl_context = ssl_context
        self._connections: set[ssl.SSLSocket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), GraphRequestHandler)
        self.authority = f"https://127.0.0.1:{self.server_address[1]}"
        self.pipeline = make_pipeline(self.authority)

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Runs in the connection's thread: handshake, then serve requests until closed."""
        request.settimeout(CONNECTION_TIMEOUT)
        # Headers and body go out in separate writes; without TCP_NODELAY, Nagle's
        # algorithm meets the client's delayed ACK and every response waits ~40 ms.
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            connection = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            request.close()  # e.g. a client that does not trust the CA hangs up
            return
        with self._connections_lock:
            self._connections.add(connection)
        try:
            GraphRequestHandler(connection, client_address, self)
        finally:
            with self._connections_lock:
                self._connections.discard(connection)
            connection.close()

    def shutdown_request(self, request: Any) -> None:
        # The plain socket was detached by wrap_socket; finish_request closes the TLS one.
        request.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client going away mid-request is routine for a test server, not an error.
        logger.debug("graphserver: connection error from %s", client_address, exc_info=True)

    def close_connections(self) -> None:
        """Shut every live connection's socket so its handler thread stops waiting."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            # socket.socket.shutdown, not SSLSocket's: it must not touch the TLS state
            # another thread may be reading through.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(connection, socket.SHUT_RDWR)


class GraphRequestHandler(BaseHTTPRequestHandler):
    """Turns HTTP/1.1 requests into `Request`s for the pipeline and writes the answer."""

    protocol_version = "HTTP/1.1"  # keep-alive, as Graph and Entra serve
    server_version = "graphserver"
    sys_version = ""
    server: TLSServer

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("graphserver: " + format, *args)

    def _serve(self) -> None:
        body = self._read_body()
        if body is None:
            self.send_error(400, "Bad request body")
            return
        headers: dict[str, str] = {}
        for name in set(self.headers.keys()):
            headers[name] = ", ".join(self.headers.get_all(name) or [])
        request = Request.from_target(self.command, self.path, headers, body)
        response = self.server.pipeline.handle(request)
        if response.drop_connection:
            self._drop()
        else:
            self._write(response, request)

    def _read_body(self) -> bytes | None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        if not length.isdigit():
            return None
        return self.rfile.read(int(length))

    def _read_chunked(self) -> bytes | None:
        chunks: list[bytes] = []
        while True:
            size_line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                return None
            if size == 0:
                # Trailers end with an empty line.
                while self.rfile.readline(1024).strip():
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)  # the CRLF after the chunk

    def _write(self, response: Response, request: Request) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        # Graph answers every request with its own request-id and echoes the client's.
        self.send_header("request-id", str(uuid.uuid4()))
        client_request_id = request.header("client-request-id")
        if client_request_id:
            self.send_header("client-request-id", client_request_id)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        view = memoryview(response.body)
        for start in range(0, len(view), WRITE_CHUNK):  # stream large $value bodies
            self.wfile.write(view[start : start + WRITE_CHUNK])

    def _drop(self) -> None:
        """Close the connection without writing a byte (no TLS close_notify either)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self.connection, socket.SHUT_RDWR)
