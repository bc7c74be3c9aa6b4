"""The composition root: builds every part of the service from the configuration.

Nothing connects or opens anything until a function here is called.  Commands that only touch
the register need :func:`build_app`; the watcher also needs mail connections, which
:func:`mail_connections` opens (starting the embedded servers when ``[backend] kind`` is
``embedded``) and closes again.
"""

from __future__ import annotations

import fcntl
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot import log_privacy
from bot.config import (
    BackendKind,
    ConfigError,
    Mailbox,
    MailboxRole,
    Settings,
    load_settings,
    resolve_secret,
)
from bot.digests import DigestService
from bot.evidence import EvidenceStore
from bot.mail.embedded import EmbeddedMailServer
from bot.mail.entra import AppTokens, load_credential
from bot.mail.graph import GraphMailbox
from bot.mail.graph_client import GraphClient
from bot.mail.graph_send import GraphSender, GraphSentLog
from bot.mail.imap import ImapMailbox, InboxSentLog
from bot.mail.outlook_absences import OutlookAbsences
from bot.mail.ports import AbsenceSource, MailError, MailSender, MailStore, SentLog
from bot.mail.smtp import SmtpSender
from bot.outbox import DeliveryReport, OutboxSender, SenderIdentity
from bot.reminder_service import ReminderService
from bot.store.db import make_engine, session_factory, upgrade
from bot.store.graph_sync import GraphSyncStore
from bot.templating import DEFAULT_TEMPLATES, Templates
from bot.watcher import Watcher


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class App:
    settings: Settings
    engine: Engine
    factory: sessionmaker[Session]
    evidence: EvidenceStore
    templates: Templates
    clock: Callable[[], datetime] = utc_now

    def today(self) -> date:
        """Today on the app's clock, in ``[organisation] timezone`` (dates are UK dates)."""
        return self.clock().astimezone(ZoneInfo(self.settings.organisation.timezone)).date()

    @property
    def watcher_lock(self) -> Path:
        """The file whose lock allows one watcher per database (beside an SQLite file)."""
        url = make_url(self.settings.storage.database_url)
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            return Path(f"{url.database}.watcher.lock")
        return self.settings.storage.evidence_dir / ".watcher.lock"

    @property
    def staff_addresses(self) -> set[str]:
        org = self.settings.organisation
        return {m.address for m in self.settings.mailboxes} | {org.dmo_email, org.bot_address}

    @property
    def not_officers(self) -> dict[str, str]:
        """Addresses that may not be a SPOC or cover officer, with what each is instead."""
        shared = {
            m.address: 'the information mailbox ([[mailboxes]] role "information")'
            for m in self.settings.mailboxes
            if m.role is MailboxRole.INFORMATION
        }
        bot = self.settings.organisation.bot_address
        return shared | {bot: "spocbot's own address ([organisation] bot_address)"}


def build_app(config_file: Path, *, migrate: bool = True) -> App:
    settings = load_settings(config_file)
    log_privacy.configure(settings.logging.addresses)  # before anything is logged
    try:
        engine = make_engine(settings.storage.database_url)
        if migrate:
            upgrade(engine)
    except (ArgumentError, NoSuchModuleError, ModuleNotFoundError, ValueError) as exc:
        raise ConfigError(f"storage.database_url: cannot use this database URL: {exc}") from None
    except OperationalError as exc:
        raise ConfigError(f"storage.database_url: cannot open the database: {exc.orig}") from None
    evidence_dir = settings.storage.evidence_dir
    try:
        evidence_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        evidence_dir.chmod(0o700)  # personal data: owner only, even if it existed
    except OSError as exc:
        raise ConfigError(f"storage.evidence_dir: cannot use {evidence_dir}: {exc}") from None
    if not (DEFAULT_TEMPLATES / "forward_cover_note.txt.j2").is_file():
        raise ConfigError(
            f"the templates folder {DEFAULT_TEMPLATES} is missing: install spocbot from its "
            "checkout with `pip install -e .` (see the README), so that templates/ is found"
        )
    return App(
        settings=settings,
        engine=engine,
        factory=session_factory(engine),
        evidence=EvidenceStore(settings.storage.evidence_dir),
        templates=Templates(),
    )


@dataclass
class MailConnections:
    stores: dict[str, MailStore]
    sender: MailSender
    sent_log: SentLog
    since: datetime  # a folder watched for the first time is read from here
    absences: AbsenceSource | None = None
    embedded: EmbeddedMailServer | None = None


@contextmanager
def mail_connections(
    settings: Settings,
    factory: sessionmaker[Session] | None = None,
    *,
    since: datetime | None = None,
) -> Iterator[MailConnections]:
    """Mail stores for every configured mailbox, the sender and the sent log; closed on exit.

    ``factory`` (the database) is needed by the Graph backend, which keeps its delta links
    there; ``since`` is how far back a folder watched for the first time is read (default:
    ``[watch] first_sync_days`` ago).
    """
    since = since or utc_now() - timedelta(days=settings.watch.first_sync_days)
    if settings.backend.kind is BackendKind.GRAPH:
        assert factory is not None, "the Graph backend keeps its delta links in the database"
        with _graph_connections(settings, factory, since) as connections:
            yield connections
        return
    server: EmbeddedMailServer | None = None
    tokens = _outlook_tokens(settings)
    if settings.backend.kind is BackendKind.EMBEDDED:
        server = EmbeddedMailServer(m.address for m in settings.mailboxes)
        endpoints = server.start()
        stores: dict[str, MailStore] = {
            m.address: ImapMailbox(
                address=m.address,
                host=endpoints.host,
                port=endpoints.imap_port,
                security="none",
                username=m.address,
                password=endpoints.password,
            )
            for m in settings.mailboxes
        }
        sender: MailSender = SmtpSender(
            host=endpoints.host, port=endpoints.smtp_port, security="none"
        )
    else:
        stores = {
            m.address: _imap_store(settings, index, m, tokens)
            for index, m in enumerate(settings.mailboxes)
        }
        sender = _smtp_sender(settings, tokens)
    sent_log = InboxSentLog(stores[settings.bot_mailbox.address])
    try:
        yield MailConnections(
            stores=stores, sender=sender, sent_log=sent_log, since=since, embedded=server
        )
    finally:
        for store in stores.values():
            store.close()
        if server is not None:
            server.stop()


def app_tokens(settings: Settings) -> AppTokens:
    """The app registration's tokens (one msal application per process)."""
    assert settings.graph is not None
    _check_ca_bundle(settings.graph.ca_bundle)
    return AppTokens(settings.graph, load_credential(settings.graph))


def _check_ca_bundle(path: Path | None) -> None:
    if path is None:
        return
    try:
        ssl.create_default_context().load_verify_locations(cafile=str(path))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"graph.ca_bundle: cannot use {path} as CA certificates (PEM): {exc}"
        ) from None


def graph_client(settings: Settings, tokens: AppTokens) -> GraphClient:
    graph = settings.graph
    assert graph is not None
    return GraphClient(
        graph.base_url,
        tokens,
        ca_bundle=graph.ca_bundle,
        timeout=graph.timeout_seconds,
        max_concurrent=graph.max_concurrent_requests,
        max_attempts=graph.max_attempts,
        max_retry_after=graph.max_retry_after_seconds,
    )


@contextmanager
def _graph_connections(
    settings: Settings, factory: sessionmaker[Session], since: datetime
) -> Iterator[MailConnections]:
    graph = settings.graph
    assert graph is not None
    client = graph_client(settings, app_tokens(settings))
    sync = GraphSyncStore(factory)
    stores: dict[str, MailStore] = {}
    mailboxes: dict[str, GraphMailbox] = {}
    for mailbox in settings.mailboxes:
        mailboxes[mailbox.address] = GraphMailbox(
            mailbox.address,
            client,
            sync,
            since=since,
            page_size=graph.page_size,
            category=graph.category,
            read_text=settings.matching.possible_matches,
            text_bytes=settings.matching.scan_bytes,
            max_message_bytes=settings.watch.max_message_bytes,
        )
        stores[mailbox.address] = mailboxes[mailbox.address]
    bot = mailboxes[settings.bot_mailbox.address]
    absences = (
        OutlookAbsences(client, refresh_seconds=graph.automatic_replies_refresh_seconds)
        if graph.automatic_replies
        else None
    )
    try:
        yield MailConnections(
            stores=stores,
            sender=GraphSender(client, bot),
            sent_log=GraphSentLog(client, bot),
            since=since,
            absences=absences,
        )
    finally:
        for store in stores.values():
            store.close()
        client.close()


def _outlook_tokens(settings: Settings) -> Callable[[], str] | None:
    """XOAUTH2 tokens for IMAP/SMTP (Exchange Online), when either section asks for them."""
    uses_oauth = any(
        section is not None and section.auth == "xoauth2"
        for section in (settings.imap, settings.smtp)
    )
    if not uses_oauth or settings.backend.kind is BackendKind.EMBEDDED:
        return None
    tokens = app_tokens(settings)
    assert settings.graph is not None
    scope = settings.graph.outlook_scope
    return lambda: tokens.token(scope)


def _imap_store(
    settings: Settings, index: int, mailbox: Mailbox, tokens: Callable[[], str] | None
) -> ImapMailbox:
    imap = settings.imap
    assert imap is not None
    key = f"mailboxes[{index}]"
    password = None
    if imap.auth == "password":
        password = resolve_secret(mailbox, key)
        if password is None:
            raise ConfigError(f"{key}: give password_env or password_file for {mailbox.address}")
    return ImapMailbox(
        address=mailbox.address,
        host=imap.host,
        port=imap.port,
        security=imap.security,
        username=mailbox.login,
        password=password,
        oauth_token=tokens if imap.auth == "xoauth2" else None,
        timeout=imap.timeout_seconds,
    )


def _smtp_sender(settings: Settings, tokens: Callable[[], str] | None) -> SmtpSender:
    smtp = settings.smtp
    assert smtp is not None
    password = None
    if smtp.auth == "xoauth2":
        if not smtp.username:
            raise ConfigError("smtp.username: the mailbox to send as is needed for xoauth2")
    else:
        tokens = None
        password = resolve_secret(smtp, "smtp")
        if smtp.username and password is None:
            raise ConfigError("smtp: username is set, so give password_env or password_file")
    return SmtpSender(
        host=smtp.host,
        port=smtp.port,
        security=smtp.security,
        username=smtp.username,
        password=password,
        oauth_token=tokens,
        timeout=smtp.timeout_seconds,
    )


def build_outbox_sender(
    app: App, connections: MailConnections, operator: str | None = None
) -> OutboxSender:
    """What sends forwards, acknowledgements and notices (reminders, digests, letters)
    exactly once; each send is audited under ``operator`` (default: the service's own name,
    "spocbot (watcher)", or "spocbot (scheduler)" for reminders and digests)."""
    settings = app.settings
    return OutboxSender(
        app.factory,
        connections.sender,
        connections.sent_log,
        app.evidence,
        app.templates,
        SenderIdentity(
            organisation=settings.organisation.name,
            bot_address=settings.organisation.bot_address,
            timezone=settings.organisation.timezone,
            emergency_name=settings.emergency.name,
            emergency_address=settings.emergency.forward_to,
        ),
        confirm_seconds=settings.watch.confirm_seconds,
        retry_initial_seconds=settings.watch.retry_initial_seconds,
        retry_max_seconds=settings.watch.retry_max_seconds,
        clock=app.clock,
        operator=operator,
    )


@contextmanager
def watcher_lock_if_free(app: App, wait_seconds: float = 0) -> Iterator[bool]:
    """Hold the one-watcher lock (True), waiting up to ``wait_seconds`` for it; False if
    another process still holds it: a watcher (``spocbot watch`` or ``run``) or a command that
    is sending what it queued.  Only one process may settle and send the outbox at a time:
    two could send the same row twice."""
    deadline = time.monotonic() + wait_seconds
    with app.watcher_lock.open("w") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(0.5)
        yield True


@dataclass(frozen=True)
class Delivery:
    report: DeliveryReport
    problem: str | None = None  # why not everything went out now, for people
    lock_held: bool = False  # another process is sending: nothing was tried here


def deliver_now(app: App, operator: str | None = None) -> Delivery:
    """Send what is due in the outbox now (a letter, reminders, a digest just queued), unless
    another process holds the watcher lock (the service sends it on its next pass)."""
    report = DeliveryReport()
    with watcher_lock_if_free(app) as free:
        if not free:
            why = (
                "another spocbot process is sending mail with this storage (the service, or "
                "another command); the service's next pass, or this command run again, sends it"
            )
            return Delivery(report, why, lock_held=True)
        try:
            with mail_connections(app.settings, app.factory) as connections:
                sender = build_outbox_sender(app, connections, operator)
                sender.recover(report)
                sender.deliver(report)
        except (MailError, ConfigError, OSError) as exc:
            return Delivery(report, f"the mail server could not be reached: {exc}")
    return Delivery(report, "; ".join(report.errors) or None)


def build_reminders(app: App) -> ReminderService:
    return ReminderService(app.factory, app.evidence, app.templates, app.settings, app.clock)


def build_digests(app: App) -> DigestService:
    return DigestService(app.factory, app.evidence, app.templates, app.settings, app.clock)


def build_watcher(app: App, connections: MailConnections) -> Watcher:
    return Watcher(
        app.settings,
        app.factory,
        connections.stores,
        build_outbox_sender(app, connections),
        app.evidence,
        clock=app.clock,
        absences=connections.absences,
        since=connections.since,
    )
