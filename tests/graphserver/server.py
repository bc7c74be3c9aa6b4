"""GraphTestServer: the tenant, its knobs and counters, and the HTTPS server's lifecycle."""

from __future__ import annotations

import shutil
import ssl
import tempfile
import threading
from datetime import datetime
from pathlib import Path
from types import TracebackType

import trustme

from .auth import OUTLOOK_ROLES, EntraTenant
from .context import GraphContext
from .counters import ConcurrencyTracker, RecordedRequest, RequestLog
from .faults import FaultPlan
from .pipeline import Pipeline, Tuning
from .sending import attach_uploaded
from .store import AutomaticReplies, FakeMessage, ReplyStatus, Tenant
from .transport import TLSServer
from .uploads import UploadRegistry, UploadSession

DEFAULT_ROLES = ["Mail.ReadWrite", "Mail.Send", "MailboxSettings.Read"]
REPLY_STATUSES = ("disabled", "alwaysEnabled", "scheduled")


class GraphTestServer:
    """A local stand-in for Microsoft Graph v1.0 mail and Entra ID's token endpoint.

    Mailboxes and faults may be set up before or after `start()`; `roles`, `latency`,
    `throttle_retry_after` and `token_lifetime` may be changed at any time.
    """

    def __init__(
        self,
        tenant_id: str = "tenant-1",
        client_id: str = "app-1",
        *,
        outlook_signing_key: bytes | None = None,
    ) -> None:
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.roles: list[str] = list(DEFAULT_ROLES)  # put in Graph tokens issued from now on
        self.outlook_roles: list[str] = list(OUTLOOK_ROLES)  # in IMAP/SMTP (XOAUTH2) tokens
        self.latency = 0.0  # seconds each admitted mailbox request takes (0: as fast as it can)
        self.throttle_retry_after = 1.0  # Retry-After of MailboxConcurrency 429s
        self.token_lifetime = 3599  # expires_in of issued tokens, in seconds
        self._tenant = Tenant()
        self._faults = FaultPlan()
        self._log = RequestLog()
        self._tracker = ConcurrencyTracker()
        self._entra = EntraTenant(
            tenant_id,
            client_id,
            roles=lambda: list(self.roles),
            token_lifetime=lambda: int(self.token_lifetime),
            outlook_roles=lambda: list(self.outlook_roles),
            outlook_signing_key=outlook_signing_key,
        )
        self._http: TLSServer | None = None
        self._pipeline: Pipeline | None = None
        self._thread: threading.Thread | None = None
        self._workdir: Path | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Serve HTTPS on 127.0.0.1 on a free port, in a background thread."""
        if self._http is not None:
            raise RuntimeError("GraphTestServer is already started")
        ca = trustme.CA()
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(ssl_context)
        self._workdir = Path(tempfile.mkdtemp(prefix="graphserver-"))
        ca.cert_pem.write_to_path(str(self._workdir / "ca.pem"))
        self._http = TLSServer(ssl_context, self._build_pipeline)
        self._pipeline = self._http.pipeline
        self._thread = threading.Thread(
            target=self._http.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="graphserver",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, close every connection and join every thread.  Idempotent."""
        if self._http is None:
            return
        self._http.shutdown()  # returns once serve_forever has left its loop
        self._http.close_connections()
        self._http.server_close()  # joins the connection threads
        if self._thread is not None:
            self._thread.join()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
        self._http = self._thread = self._workdir = None

    def __enter__(self) -> GraphTestServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- addresses ------------------------------------------------------------------------

    @property
    def authority(self) -> str:
        """`https://127.0.0.1:PORT`; clients use f"{authority}/{tenant_id}"."""
        return self._server().authority

    @property
    def base_url(self) -> str:
        return f"{self.authority}/v1.0"

    @property
    def ca_path(self) -> Path:
        """A PEM bundle of the CA that signed the server's certificate."""
        if self._workdir is None:
            raise RuntimeError("GraphTestServer is not started")
        return self._workdir / "ca.pem"

    def client_ssl_context(self) -> ssl.SSLContext:
        """An SSLContext trusting `ca_path` (httpx 0.28+ wants this instead of a path)."""
        return ssl.create_default_context(cafile=str(self.ca_path))

    # --- credentials ----------------------------------------------------------------------

    def register_certificate(self, cert_pem: bytes) -> None:
        """Accept client assertions signed by the key of this (PEM) certificate."""
        self._entra.register_certificate(cert_pem)

    def register_secret(self, secret: str) -> None:
        self._entra.register_secret(secret)

    # --- the tenant ------------------------------------------------------------------------------

    def add_mailbox(self, address: str) -> None:
        self._tenant.add_mailbox(address)

    def deliver(
        self,
        address: str,
        raw: bytes,
        folder: str = "inbox",
        received_at: datetime | None = None,
    ) -> str:
        """Put `raw` in a folder as received mail; returns its immutable id."""
        return self._tenant.insert(address, raw, folder, received_at=received_at).id

    def move(self, address: str, message_id: str, folder: str) -> None:
        self._tenant.move(address, message_id, folder)

    def delete(self, address: str, message_id: str) -> None:
        self._tenant.delete(address, message_id)

    def messages(self, address: str, folder: str) -> list[FakeMessage]:
        """Snapshots of the messages in a folder, in the order they were stored."""
        return self._tenant.snapshots(address, folder)

    def set_automatic_replies(
        self,
        address: str,
        status: ReplyStatus,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        internal_message: str = "I am away.",
        external_message: str = "I am away.",
        external_audience: str = "all",
    ) -> None:
        if status not in REPLY_STATUSES:
            raise ValueError(f"status must be one of {REPLY_STATUSES}, not {status!r}")
        if status == "scheduled" and (start is None or end is None):
            raise ValueError("a scheduled automatic reply needs start and end")
        settings = AutomaticReplies(
            status=status,
            start=start,
            end=end,
            internal_message=internal_message,
            external_message=external_message,
            external_audience=external_audience,
        )
        self._tenant.set_automatic_replies(address, settings)

    # --- faults ---------------------------------------------------------------------------

    def fail(
        self,
        method: str,
        path_regex: str,
        status: int,
        *,
        times: int = 1,
        retry_after: float | None = None,
        code: str | None = None,
    ) -> None:
        """Answer the next `times` matching requests with `status`.

        `path_regex` is searched in the request path (e.g. "/v1.0/users/a@b/sendMail");
        `method` may be "*" for any method.  Applies inside $batch too.
        """
        self._faults.add(
            method, path_regex, status, times=times, retry_after=retry_after, code=code
        )

    def expire_delta_tokens(self, address: str, folder: str) -> None:
        """Every delta/skip token issued so far for the folder now answers 410."""
        self._tenant.expire_tokens(address, folder)

    def replay_next_delta_page(self, address: str, folder: str) -> None:
        """Serve the folder's next delta page, then the same page again once."""
        self._tenant.arm_replay(address, folder)

    def drop_answer(self, method: str, path_regex: str, *, times: int = 1) -> None:
        """The next `times` requests matching `method` ("*": any) and `path_regex` are
        handled in full, then the connection closes without an answer (a lost response)."""
        self._faults.add_answer_drop(method, path_regex, times)

    def drop_connection_after_send(self, times: int = 1) -> None:
        """The next `times` sends are accepted and delivered, but get no response."""
        self._faults.add_drops(times)

    # --- counters -------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every Graph (/v1.0, $batch sub-requests included) and upload-URL request served.

        Entra ID requests (discovery, token) are not listed; see `token_requests`.
        """
        return self._log.requests

    @property
    def peak_concurrency(self) -> dict[str, int]:
        return self._tracker.peak

    @property
    def token_requests(self) -> int:
        """POSTs to the token endpoint, successful or not."""
        return self._log.token_requests

    @property
    def internal_errors(self) -> list[str]:
        """Tracebacks of bugs in the fake itself (answered 500); empty if all is well."""
        return list(self._pipeline.internal_errors) if self._pipeline else []

    def reset_counters(self) -> None:
        self._log.reset()
        self._tracker.reset_peak()

    # --- helpers --------------------------------------------------------------------------

    def _server(self) -> TLSServer:
        if self._http is None:
            raise RuntimeError("GraphTestServer is not started")
        return self._http

    def _build_pipeline(self, authority: str) -> Pipeline:
        def location(session: UploadSession) -> str:
            return (
                f"{authority}/v1.0/users('{session.mailbox}')/messages('{session.message_id}')"
                "/attachments"
            )

        uploads = UploadRegistry(
            lambda session, data: attach_uploaded(self._tenant, session, data), location
        )
        context = GraphContext(
            tenant=self._tenant,
            uploads=uploads,
            faults=self._faults,
            authority=authority,
            base_url=f"{authority}/v1.0",
        )
        return Pipeline(
            context=context,
            entra=self._entra,
            uploads=uploads,
            faults=self._faults,
            log=self._log,
            tracker=self._tracker,
            tuning=Tuning(
                latency=lambda: float(self.latency),
                throttle_retry_after=lambda: float(self.throttle_retry_after),
            ),
        )
