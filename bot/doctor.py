"""``spocbot doctor``: check a deployment, one line per check, each failure with its fix.

The checks follow what the service needs, in order: a valid configuration; a writable
database and evidence directory that only the service's user can read; a token from Entra ID
(Graph or XOAUTH2) carrying the permissions the service uses; every watched folder readable;
and the bot mailbox able to send.  Nothing is changed and nothing is sent, except with
``--send-test``, which sends one message from the bot mailbox to itself and looks for it where
the exactly-once recovery would (the bot's inbox, or its Sent Items on Graph), so the whole
sending path is proved on the real tenant.
"""

from __future__ import annotations

import os
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from functools import partial
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.bootstrap import App, app_tokens, graph_client, mail_connections
from bot.config import BackendKind, ConfigError, Settings, load_settings
from bot.mail.entra import GRAPH_SCOPE, OUTLOOK_SCOPE, token_roles
from bot.mail.ports import MailError

GRAPH_ROLES = {
    "Mail.ReadWrite": "read the watched mailboxes and add the handled category",
    "Mail.Send": "send forwards, acknowledgements and digests from the bot mailbox",
}
AUTOMATIC_REPLIES_ROLE = ("MailboxSettings.Read", "read officers' automatic replies (cover)")
OUTLOOK_ROLES = {"IMAP.AccessAsApp": "IMAP", "SMTP.SendAsApp": "SMTP"}


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{'PASS' if self.ok else 'FAIL'}  {self.name}: {self.detail}"
        return text if self.ok or not self.fix else f"{text}\n      fix: {self.fix}"


def run(
    config_file: Path, build: Callable[[Path], App], *, send_test: bool = False
) -> Iterator[Check]:
    """Every check in order; later checks are skipped when what they need has failed."""
    try:
        settings = load_settings(config_file)
    except ConfigError as exc:
        yield Check(
            "configuration",
            False,
            str(exc),
            "correct the key named; spocbot.example.toml documents every key",
        )
        return
    yield Check("configuration", True, f"{config_file} is valid")
    try:
        app = build(config_file)
    except ConfigError as exc:
        yield Check("database", False, str(exc), "check [storage] and the file permissions")
        return
    yield check_database(app)
    yield check_evidence_dir(app.settings.storage.evidence_dir)
    if settings.graph is not None:
        yield from check_tokens(settings)
    yield from check_mailboxes(app)
    yield from check_sending(app, send_test)


def check_database(app: App) -> Check:
    try:
        with app.engine.begin() as connection:
            # A write inside a transaction that is rolled back: proves the lock and the file.
            connection.execute(text("CREATE TABLE IF NOT EXISTS doctor_probe (x INTEGER)"))
            connection.execute(text("DROP TABLE doctor_probe"))
    except SQLAlchemyError as exc:
        return Check(
            "database",
            False,
            f"cannot write: {getattr(exc, 'orig', exc)}",
            "check [storage] database_url and that this user can write the file",
        )
    url = make_url(app.settings.storage.database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        path = Path(url.database or "")
        loose = _loose_permissions(path)
        if loose:
            return Check(
                "database",
                False,
                f"{path} is writable but {loose}",
                f"chmod 600 {path} (it holds personal data)",
            )
    return Check("database", True, "writable" + _owner_only_note(url.get_backend_name()))


def check_evidence_dir(path: Path) -> Check:
    try:
        with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-") as probe:
            probe.write(b"probe")
            probe.flush()
    except OSError as exc:
        return Check(
            "evidence directory",
            False,
            f"cannot write to {path}: {exc.strerror}",
            "create it, owned by the service's user, with chmod 700",
        )
    loose = _loose_permissions(path)
    if loose:
        return Check("evidence directory", False, f"{path} {loose}", f"chmod 700 {path}")
    return Check("evidence directory", True, f"{path} is writable and owner-only")


def check_tokens(settings: Settings) -> Iterator[Check]:
    graph = settings.graph
    assert graph is not None
    try:
        tokens = app_tokens(settings)
    except ConfigError as exc:
        yield Check("token", False, str(exc), "correct the [graph] credential")
        return
    scopes = []
    if settings.backend.kind is BackendKind.GRAPH:
        scopes.append(GRAPH_SCOPE)
    if any(s is not None and s.auth == "xoauth2" for s in (settings.imap, settings.smtp)):
        scopes.append(OUTLOOK_SCOPE)
    for scope in scopes:
        try:
            token = tokens.token(scope)
        except MailError as exc:
            yield Check(
                f"token ({scope})",
                False,
                str(exc),
                "check tenant_id and client_id, and that the certificate (or secret) is "
                "uploaded to the app registration and not expired",
            )
            continue
        roles = set(token_roles(token))
        wanted = dict(GRAPH_ROLES) if scope == GRAPH_SCOPE else {}
        if scope == GRAPH_SCOPE and graph.automatic_replies:
            wanted[AUTOMATIC_REPLIES_ROLE[0]] = AUTOMATIC_REPLIES_ROLE[1]
        if scope == OUTLOOK_SCOPE:
            if settings.imap is not None and settings.imap.auth == "xoauth2":
                wanted["IMAP.AccessAsApp"] = "log in to the watched mailboxes over IMAP"
            if settings.smtp is not None and settings.smtp.auth == "xoauth2":
                wanted["SMTP.SendAsApp"] = "send over SMTP"
        missing = sorted(set(wanted) - roles)
        if missing:
            yield Check(
                f"token ({scope})",
                False,
                f"acquired, but without {', '.join(missing)} (needed to "
                + "; ".join(wanted[m] for m in missing)
                + ")",
                "grant the application permission(s) and admin consent in the app registration",
            )
        else:
            yield Check(f"token ({scope})", True, f"acquired; roles {', '.join(sorted(roles))}")


def check_mailboxes(app: App) -> Iterator[Check]:
    settings = app.settings
    try:
        if settings.backend.kind is BackendKind.GRAPH:
            # Not the watcher's delta round (that would start following the folder): the
            # folder itself, which needs the same permission and RBAC scope.
            client = graph_client(settings, app_tokens(settings))
            try:
                for mailbox in settings.watched:
                    for folder in mailbox.folders:
                        read = partial(
                            client.get_json,
                            f"users/{quote(mailbox.address)}/mailFolders/{quote(folder)}",
                            mailbox=mailbox.address,
                            params={"$select": "id"},
                        )
                        yield _readable(mailbox.address, folder, read)
            finally:
                client.close()
            return
        with mail_connections(settings, app.factory) as connections:
            for mailbox in settings.watched:
                store = connections.stores[mailbox.address]
                for folder in mailbox.folders:
                    yield _readable(mailbox.address, folder, partial(store.select, folder))
    except (ConfigError, MailError) as exc:
        yield Check("mailboxes", False, str(exc), "correct the mail settings named")


def _readable(address: str, folder: str, read: Callable[[], object]) -> Check:
    name = f"mailbox {address}/{folder}"
    try:
        read()
    except MailError as exc:
        return Check(
            name,
            False,
            str(exc),
            "check the folder name, the credentials, and (Microsoft 365) that the mailbox is "
            "in the app's RBAC management scope",
        )
    return Check(name, True, "readable")


def check_sending(app: App, send_test: bool) -> Iterator[Check]:
    settings = app.settings
    bot = settings.organisation.bot_address
    try:
        with mail_connections(settings, app.factory) as connections:
            connections.sent_log.check()
            if not send_test:
                yield Check(
                    "bot mailbox can send",
                    True,
                    f"{bot} is reachable (add --send-test to send it one message and find it)",
                )
                return
            message_id = make_msgid("spocbot-doctor", domain=bot.partition("@")[2] or None)
            connections.sender.send(bot, [bot], _probe(bot, message_id))
            deadline = time.monotonic() + max(settings.watch.confirm_seconds, 5)
            while time.monotonic() < deadline:
                if connections.sent_log.contains(message_id):
                    yield Check("bot mailbox can send", True, f"a test message from {bot} arrived")
                    return
                time.sleep(1)
            yield Check(
                "bot mailbox can send",
                False,
                "a test message was accepted but not found within "
                f"{settings.watch.confirm_seconds:.0f} s",
                "raise [watch] confirm_seconds above the server's delivery delay; without "
                "finding its own mail the bot cannot settle a send interrupted by a crash",
            )
    except (ConfigError, MailError) as exc:
        yield Check(
            "bot mailbox can send",
            False,
            str(exc),
            "check the bot mailbox settings; on Microsoft 365 grant Mail.Send and include the "
            "bot mailbox in the app's RBAC scope",
        )


def _probe(bot: str, message_id: str) -> bytes:
    probe = EmailMessage()
    probe["From"] = bot
    probe["To"] = bot
    probe["Subject"] = "spocbot doctor: test message (safe to delete)"
    probe["Date"] = format_datetime(datetime.now(UTC))
    probe["Message-ID"] = message_id
    probe["Auto-Submitted"] = "auto-generated"
    probe.set_content("spocbot doctor --send-test sent this to check that the bot can send.\n")
    return probe.as_bytes()


def _loose_permissions(path: Path) -> str:
    """What is wrong with a path that should be owner-only, or "" if nothing."""
    try:
        info = path.stat()
    except OSError as exc:
        return f"cannot be checked: {exc.strerror}"
    problems = []
    if info.st_uid != os.geteuid():
        problems.append("is owned by another user")
    if stat.S_IMODE(info.st_mode) & 0o077:
        problems.append(f"is readable by others (mode {stat.S_IMODE(info.st_mode):o})")
    return " and ".join(problems)


def _owner_only_note(backend: str) -> str:
    return " and owner-only" if backend == "sqlite" else ""
