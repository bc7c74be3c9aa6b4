"""The composition root: builds every part of the service from the configuration.

Nothing connects or opens anything until a function here is called.  Commands that only touch
the register need :func:`build_app`; the watcher also needs mail connections, which
:func:`mail_connections` opens (starting the embedded servers when ``[backend] kind`` is
``embedded``) and closes again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.config import BackendKind, ConfigError, Mailbox, Settings, load_settings, resolve_secret
from bot.evidence import EvidenceStore
from bot.mail.embedded import EmbeddedMailServer
from bot.mail.imap import ImapMailbox
from bot.mail.ports import MailSender, MailStore
from bot.mail.smtp import SmtpSender
from bot.outbox import OutboxSender, SenderIdentity
from bot.store.db import make_engine, session_factory, upgrade
from bot.templating import Templates
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


def build_app(config_file: Path, *, migrate: bool = True) -> App:
    settings = load_settings(config_file)
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
    embedded: EmbeddedMailServer | None = None


@contextmanager
def mail_connections(settings: Settings) -> Iterator[MailConnections]:
    """Mail stores for every configured mailbox and the SMTP sender; closed on exit."""
    server: EmbeddedMailServer | None = None
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
            m.address: _imap_store(settings, index, m) for index, m in enumerate(settings.mailboxes)
        }
        sender = _smtp_sender(settings)
    try:
        yield MailConnections(stores=stores, sender=sender, embedded=server)
    finally:
        for store in stores.values():
            store.close()
        if server is not None:
            server.stop()


def _imap_store(settings: Settings, index: int, mailbox: Mailbox) -> ImapMailbox:
    assert settings.imap is not None
    key = f"mailboxes[{index}]"
    password = resolve_secret(mailbox, key)
    if password is None:
        raise ConfigError(f"{key}: give password_env or password_file for {mailbox.address}")
    return ImapMailbox(
        address=mailbox.address,
        host=settings.imap.host,
        port=settings.imap.port,
        security=settings.imap.security,
        username=mailbox.login,
        password=password,
        timeout=settings.imap.timeout_seconds,
    )


def _smtp_sender(settings: Settings) -> SmtpSender:
    smtp = settings.smtp
    assert smtp is not None
    password = resolve_secret(smtp, "smtp")
    if smtp.username and password is None:
        raise ConfigError("smtp: username is set, so give password_env or password_file")
    return SmtpSender(
        host=smtp.host,
        port=smtp.port,
        security=smtp.security,
        username=smtp.username,
        password=password,
        timeout=smtp.timeout_seconds,
    )


def build_watcher(app: App, connections: MailConnections) -> Watcher:
    settings = app.settings
    outbox = OutboxSender(
        app.factory,
        connections.sender,
        connections.stores[settings.bot_mailbox.address],
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
    )
    return Watcher(settings, app.factory, connections.stores, outbox, app.evidence, clock=app.clock)
