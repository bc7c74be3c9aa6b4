"""``spocbot doctor``: check a deployment, one line per check, each failure with its fix.

The checks follow what the service needs, in order: a valid configuration that names its
secrets rather than holding them; a writable database (and its WAL files) and evidence
directory that only the service's user can read, all the way down; the app's
certificate (owner-only, not expiring) and a token from Entra ID (Graph or XOAUTH2) carrying
the permissions the service uses; every watched folder readable; the register's officers'
automatic replies readable (Graph); and the bot mailbox able to send.  A check whose
prerequisite failed is shown as skipped rather than failing again with the wrong fix.

Doctor creates the database and its schema if they do not exist yet (as every command does),
and otherwise changes nothing and sends nothing, except with ``--send-test``: it then sends
one message from the bot mailbox to itself and looks for it where the exactly-once recovery
would (the bot's inbox, or its Sent Items on Graph), which proves the whole sending path on
the real tenant.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from functools import partial
from pathlib import Path
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.bootstrap import App, app_tokens, graph_client, mail_connections
from bot.config import BackendKind, ConfigError, Settings, load_settings
from bot.letters.content import LetterError
from bot.letters.formats import DEFAULT_LETTERHEAD, check_letterhead
from bot.mail.entra import AppTokens, token_roles
from bot.mail.graph_client import BatchCall, GraphClient, GraphError
from bot.mail.ports import MailError
from bot.register_service import register_rows
from bot.store.db import sqlite_files
from bot.templating import DEFAULT_TEMPLATES

GRAPH_ROLES = {
    "Mail.ReadWrite": "read the watched mailboxes and add the category",
    "Mail.Send": "send forwards and acknowledgements from the bot mailbox",
}
AUTOMATIC_REPLIES_ROLE = ("MailboxSettings.Read", "read officers' automatic replies (cover)")
CERTIFICATE_WARNING = timedelta(days=30)
SCOPE_FIX = "add the mailbox to the app's RBAC management scope (README, step 4)"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    skipped: bool = False

    def line(self) -> str:
        label = "SKIP" if self.skipped else "PASS" if self.ok else "FAIL"
        text = f"{label}  {self.name}: {self.detail}"
        return text if self.ok or not self.fix else f"{text}\n      fix: {self.fix}"


@dataclass
class _Tokens:
    """What the token checks found out, for the checks after them."""

    failed: bool = False
    roles: set[str] = field(default_factory=set)


def run(
    config_file: Path, build: Callable[[Path], App], *, send_test: bool = False
) -> Iterator[Check]:
    """Every check in order; later checks are skipped when what they need has failed."""
    try:
        settings = load_settings(config_file)
    except ConfigError as exc:
        missing = not config_file.exists()
        yield Check(
            "configuration",
            False,
            str(exc),
            "copy spocbot.example.toml to spocbot.toml and edit it, or give --config FILE"
            if missing
            else "correct the key named; spocbot.example.toml documents every key",
        )
        return
    yield Check("configuration", True, f"{config_file} is valid")
    try:
        app = build(config_file)
    except ConfigError as exc:
        yield Check("database", False, str(exc), "check [storage] and the file permissions")
        return
    yield check_secrets(settings)
    yield check_database(app)
    yield check_evidence_dir(app.settings.storage.evidence_dir)
    yield check_templates(DEFAULT_TEMPLATES)
    yield check_letters(app.settings)
    tokens = _Tokens()
    if settings.graph is not None:
        if settings.graph.certificate_path is not None:
            yield check_certificate(settings.graph.certificate_path)
        for check, roles in check_tokens(settings):
            if roles is None:
                tokens.failed = True
            else:
                tokens.roles |= roles
            yield check
    if tokens.failed:
        for name in ("watched mailboxes", "bot mailbox can send"):
            yield Check(name, False, "skipped: no token (see above)", skipped=True)
        return
    yield from check_mailboxes(app)
    if settings.backend.kind is BackendKind.GRAPH and settings.graph is not None:
        if settings.graph.automatic_replies:
            yield from check_officers(app)
        if "Mail.Send" not in tokens.roles:
            yield Check(
                "bot mailbox can send",
                False,
                "the token has no Mail.Send",
                "grant Mail.Send (see the token line above)",
            )
            return
    yield from check_sending(app, send_test)


def check_database(app: App) -> Check:
    try:
        with app.engine.begin() as connection:
            # A write in a transaction: proves the file is writable and the lock obtainable.
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
        loose = [
            f"{file} {problem}"
            for file in sqlite_files(path)
            if file.exists() and (problem := _loose_permissions(file))
        ]
        if loose:
            files = " ".join(str(f) for f in sqlite_files(path) if f.exists())
            return Check(
                "database",
                False,
                f"writable, but {'; '.join(loose)}",
                f"chmod 600 {files} (they hold personal data)",
            )
        return Check("database", True, f"{path} is writable and owner-only")
    return Check("database", True, "writable")


def check_templates(directory: Path) -> Check:
    """The templates of forwards, acknowledgements, letters, reminders and digests."""
    wanted = ("forward_cover_note.txt.j2", "letters/letterhead.docx", "reminders", "digests")
    missing = [name for name in wanted if not (directory / name).exists()]
    if missing:
        return Check(
            "templates",
            False,
            f"{directory} lacks {', '.join(missing)}",
            "install spocbot from its checkout with `pip install -e .` (see the README), so "
            "that the templates folder is found",
        )
    return Check("templates", True, f"{directory}")


def check_letters(settings: Settings) -> Check:
    """What every letter needs from the configuration, and the Word letterhead."""
    letters = settings.letters
    if not letters.emergency_phone:
        return Check(
            "letters",
            False,
            "[letters] emergency_phone is not set: every letter must give the emergency route",
            "set [letters] emergency_phone to the contact centre number",
        )
    letterhead = letters.letterhead or DEFAULT_LETTERHEAD
    try:
        check_letterhead(letterhead)
    except LetterError as exc:
        return Check(
            "letters", False, str(exc), "use a letterhead as templates/letters/README.md says"
        )
    return Check("letters", True, f"emergency number set; letterhead {letterhead.name} is usable")


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
        return Check("evidence directory", False, f"{path} {loose}", f"chmod -R go-rwx {path}")
    offenders = list(_loose_within(path))
    if offenders:
        shown = "; ".join(offenders[:SHOWN_OFFENDERS])
        more = len(offenders) - SHOWN_OFFENDERS
        return Check(
            "evidence directory",
            False,
            f"{len(offenders)} entr{'y' if len(offenders) == 1 else 'ies'} in {path} "
            f"others can reach: {shown}" + (f" (and {more} more)" if more > 0 else ""),
            f"chmod -R go-rwx {path} (the raw messages are personal data)",
        )
    return Check("evidence directory", True, f"{path} is writable and owner-only, throughout")


SHOWN_OFFENDERS = 3


def _loose_within(root: Path) -> Iterator[str]:
    """Folders and files under ``root`` that the group or others may read, write or enter."""
    for folder, folders, files in os.walk(root):
        for name in sorted(folders) + sorted(files):
            entry = Path(folder, name)
            try:
                mode = stat.S_IMODE(entry.lstat().st_mode)
            except OSError:
                continue  # gone meanwhile (a temporary file)
            if mode & 0o077:
                yield f"{entry} (mode {mode:o})"


SECRET_KEYS = ("password", "secret", "token", "api_key")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_secrets(settings: Settings) -> Check:
    """The configuration names where secrets are, never holds one.

    Keys such as ``password = ...`` are refused when the file is read (unknown key); what is
    left to check is a secret put where a name belongs: a ``*_env`` value that is no
    environment variable name, or a password inside ``database_url``."""
    found: list[str] = []

    def walk(value: object, where: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{where}.{key}" if where else str(key))
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                walk(item, f"{where}[{index}]")
        elif isinstance(value, str) and where.endswith("_env") and not _ENV_NAME.match(value):
            found.append(f"{where} is not an environment variable name (a secret itself?)")

    walk(settings.model_dump(mode="json"), "")
    if make_url(settings.storage.database_url).password:
        found.append("storage.database_url holds a password")
    if found:
        return Check(
            "secrets in the configuration",
            False,
            "; ".join(found),
            "put the secret in the environment or a file readable by this user only, and name "
            "it in the configuration (password_env / password_file; for PostgreSQL, PGPASSWORD "
            "or ~/.pgpass); then change the secret: it has been on disk in the clear",
        )
    return Check("secrets in the configuration", True, "none: secrets are named, not written")


def check_certificate(path: Path, now: datetime | None = None) -> Check:
    """The app certificate: owner-only (it holds the private key), and not (nearly) expired.
    Its SHA-1 thumbprint is shown as the Entra portal shows it, to compare with the upload."""
    now = now or datetime.now(UTC)
    try:
        pem = path.read_bytes()
        cert = x509.load_pem_x509_certificate(pem[pem.index(b"-----BEGIN CERTIFICATE") :])
    except (OSError, ValueError) as exc:
        return Check(
            "app certificate",
            False,
            f"cannot read a certificate from {path}: {exc}",
            "graph.certificate_path must be a PEM file with the private key and the certificate",
        )
    thumbprint = hashlib.sha1(cert.public_bytes(Encoding.DER)).hexdigest().upper()
    expires = cert.not_valid_after_utc
    about = f"{cert.subject.rfc4514_string()}, thumbprint {thumbprint}, expires {expires:%Y-%m-%d}"
    loose = _loose_permissions(path)
    if loose:
        return Check("app certificate", False, f"{path} {loose}", f"chmod 600 {path}")
    if expires <= now:
        return Check(
            "app certificate",
            False,
            f"{about}: expired",
            "make a new certificate and upload it (README, step 2)",
        )
    if expires - now <= CERTIFICATE_WARNING:
        return Check(
            "app certificate",
            False,
            f"{about}: expires in {(expires - now).days} day(s)",
            "make a new certificate, upload it beside the old one, then switch the file",
        )
    return Check("app certificate", True, about)


def check_tokens(settings: Settings) -> Iterator[tuple[Check, set[str] | None]]:
    """A check per token the configuration needs, with the roles it carries (None: no token)."""
    graph = settings.graph
    assert graph is not None
    try:
        tokens = app_tokens(settings)
    except ConfigError as exc:
        yield Check("token", False, str(exc), "correct the [graph] credential"), None
        return
    wanted: dict[str, dict[str, str]] = {}
    if settings.backend.kind is BackendKind.GRAPH:
        wanted[graph.graph_scope] = dict(GRAPH_ROLES)
        if graph.automatic_replies:
            wanted[graph.graph_scope][AUTOMATIC_REPLIES_ROLE[0]] = AUTOMATIC_REPLIES_ROLE[1]
    if settings.imap is not None and settings.imap.auth == "xoauth2":
        wanted.setdefault(graph.outlook_scope, {})["IMAP.AccessAsApp"] = "log in over IMAP"
    if settings.smtp is not None and settings.smtp.auth == "xoauth2":
        wanted.setdefault(graph.outlook_scope, {})["SMTP.SendAsApp"] = "send over SMTP"
    for scope, needed in wanted.items():
        yield _token_check(tokens, scope, needed)


def _token_check(
    tokens: AppTokens, scope: str, needed: dict[str, str]
) -> tuple[Check, set[str] | None]:
    name = f"token ({scope})"
    try:
        token = tokens.token(scope)
    except MailError as exc:
        fix = (
            "check tenant_id and client_id, and that the certificate shown above (or the "
            "secret) is uploaded to the app registration"
        )
        return Check(name, False, str(exc), fix), None
    roles = set(token_roles(token))
    missing = sorted(set(needed) - roles)
    if missing:
        check = Check(
            name,
            False,
            f"acquired, but without {', '.join(missing)} (needed to "
            + "; ".join(needed[m] for m in missing)
            + ")",
            "grant the application permission(s) and admin consent in the app registration",
        )
        return check, roles
    return Check(name, True, f"acquired; roles {', '.join(sorted(roles))}"), roles


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
    except GraphError as exc:
        return Check(name, False, str(exc), _graph_fix(exc.code))
    except MailError as exc:
        return Check(
            name,
            False,
            str(exc),
            "check the folder name and the mailbox's credentials (or, for xoauth2, its "
            "FullAccess permission for the app)",
        )
    return Check(name, True, "readable")


def _graph_fix(code: str) -> str:
    if code in ("ErrorInvalidUser", "MailboxNotEnabledForRESTAPI", "ResourceNotFound"):
        return f"no such mailbox: check the address; if it is right, {SCOPE_FIX}"
    if code == "ErrorItemNotFound":
        return (
            "no such folder: use a well-known name (inbox, junkemail, archive, ...) or the "
            "folder's id (README, 'Connect to Microsoft 365')"
        )
    return SCOPE_FIX


def check_officers(app: App) -> Iterator[Check]:
    """Every SPOC and cover officer in the register: their automatic replies are readable."""
    with app.factory() as session:
        officers = sorted(
            {r.spoc_email for r in register_rows(session)}
            | {r.cover_email for r in register_rows(session) if r.cover_email}
        )
    if not officers:
        yield Check("officers' automatic replies", True, "no officers in the register yet")
        return
    client: GraphClient = graph_client(app.settings, app_tokens(app.settings))
    try:
        results = client.batch(
            [
                BatchCall("GET", f"/users/{quote(o)}/mailboxSettings/automaticRepliesSetting", o)
                for o in officers
            ]
        )
    except MailError as exc:
        yield Check("officers' automatic replies", False, str(exc), SCOPE_FIX)
        return
    finally:
        client.close()
    unreadable = [
        f"{officer} ({result.status} {result.code})"
        for officer, result in zip(officers, results, strict=True)
        if not result.ok
    ]
    if unreadable:
        yield Check(
            "officers' automatic replies",
            False,
            f"cannot read {', '.join(unreadable)}; mail would not go to cover while they are away",
            f"check the addresses in the register, and {SCOPE_FIX}",
        )
    else:
        yield Check("officers' automatic replies", True, f"readable for {len(officers)} officer(s)")


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
