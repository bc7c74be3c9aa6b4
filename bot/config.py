"""Configuration: one typed settings object, read once from a TOML file.

The file is found from ``--config``, else ``$SPOCBOT_CONFIG``, else ``./spocbot.toml``.  Every
key is documented in ``spocbot.example.toml``.  Unknown keys, missing keys and bad values are
errors that name the key (:class:`ConfigError`).  Secrets never live in the file: each password
is named by ``password_env`` (an environment variable) or ``password_file`` (a file path), and
only read by :func:`resolve_secret` when a connection is made.  Relative paths are relative to
the directory that holds the configuration file.
"""

from __future__ import annotations

import os
import re
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mailbox_rules.emergency import DEFAULT_EMERGENCY_PHRASES
from mailbox_rules.envelope import is_addr_spec, normalise_address

DEFAULT_CONFIG = "spocbot.toml"


class ConfigError(Exception):
    """The configuration is missing, unreadable or invalid; the message names the key."""


def _address(value: str) -> str:
    value = normalise_address(value)
    if not is_addr_spec(value):
        raise ValueError(f"not an email address: {value!r}")
    return value


class _Section(BaseModel):
    # Strict: a value of the wrong type is an error, never coerced ("10143" is not a port,
    # "yes" or 1 is not true).  Lists, paths and names from a fixed set are still read from
    # TOML's arrays and strings (the ``Lax`` fields below), which is what TOML can express.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


_LAX = Field(strict=False)
Texts = Annotated[tuple[str, ...], _LAX]
"""A TOML array of strings, kept as a tuple."""
LaxPath = Annotated[Path, _LAX]


def _plain_text(value: str) -> str:
    if not value.strip() or not value.isprintable():
        raise ValueError("must be non-empty text without line breaks or control characters")
    return value


_DOMAIN = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*")


def _domains(value: tuple[str, ...]) -> tuple[str, ...]:
    """Mail domains, lower-case and in ASCII (IDNA) form; an empty or malformed one is refused
    (an empty domain would make no sense, and a typo would silently match nothing)."""
    cleaned = []
    for item in value:
        domain = normalise_address(f"x@{item.strip().lstrip('@')}").partition("@")[2]
        if not domain:
            raise ValueError("an empty domain is not allowed")
        if not _DOMAIN.fullmatch(domain):
            raise ValueError(f"not a mail domain: {item!r}")
        cleaned.append(domain)
    return tuple(dict.fromkeys(cleaned))


def _phrase(value: str) -> str:
    """An emergency phrase: words that must start and end with a letter or digit, since a
    phrase is matched as whole words (``fire!`` could never match)."""
    phrase = " ".join(value.split())
    if not phrase:
        raise ValueError(
            "an empty phrase is not allowed (it would make every message an emergency)"
        )
    if not phrase.isprintable():
        raise ValueError(f"{value!r}: a phrase must not contain control characters")
    if not (phrase[0].isalnum() and phrase[-1].isalnum()):
        raise ValueError(
            f"{value!r}: a phrase must start and end with a letter or digit, since phrases "
            "are matched as whole words (write fire, not fire!)"
        )
    return phrase


class Organisation(_Section):
    name: Annotated[str, Field(max_length=200)]
    dmo_email: str
    bot_address: str
    timezone: str = "Europe/London"
    staff_domains: Texts = ()

    _addresses = field_validator("dmo_email", "bot_address")(_address)
    _name = field_validator("name")(_plain_text)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    _staff_domains = field_validator("staff_domains")(_domains)


class Storage(_Section):
    database_url: str
    evidence_dir: LaxPath


class BackendKind(StrEnum):
    IMAP = "imap"
    GRAPH = "graph"
    EMBEDDED = "embedded"


class Backend(_Section):
    kind: Annotated[BackendKind, _LAX]


Security = Literal["none", "starttls", "tls"]
Auth = Literal["password", "xoauth2"]


class Imap(_Section):
    host: str
    port: int = Field(default=993, ge=1, le=65535)
    security: Security = "tls"
    auth: Auth = "password"  # xoauth2: app-only tokens from the [graph] app registration
    timeout_seconds: float = Field(default=60, gt=0)


class Secret(_Section):
    """Where a password comes from; never the password itself."""

    password_env: str | None = None
    password_file: LaxPath | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Secret:
        if self.password_env and self.password_file:
            raise ValueError("give password_env or password_file, not both")
        return self


class Smtp(Secret):
    host: str
    port: int = Field(default=587, ge=1, le=65535)
    security: Security = "starttls"
    auth: Auth = "password"  # xoauth2: app-only tokens from the [graph] app registration
    username: str | None = None
    timeout_seconds: float = Field(default=60, gt=0)


class Graph(_Section):
    """The Entra ID app registration and the Microsoft Graph endpoint.

    Used by ``[backend] kind = "graph"``, and by ``auth = "xoauth2"`` in ``[imap]``/``[smtp]``.
    The credential is a certificate (a PEM file holding the private key and the certificate;
    preferred) or a client secret named by ``client_secret_env`` / ``client_secret_file``.
    """

    tenant_id: str
    client_id: str
    certificate_path: LaxPath | None = None
    client_secret_env: str | None = None
    client_secret_file: LaxPath | None = None
    authority: str = "https://login.microsoftonline.com"
    base_url: str = "https://graph.microsoft.com/v1.0"
    resource: str | None = None  # token audience; default: base_url's origin (sovereign clouds)
    outlook_resource: str = "https://outlook.office365.com"  # IMAP/SMTP tokens (xoauth2)
    validate_authority: bool = True  # msal's instance discovery; off only for a private test IdP
    ca_bundle: LaxPath | None = None  # extra CA certificates to trust (e.g. a TLS-inspecting proxy)
    timeout_seconds: float = Field(default=60, gt=0)
    category: str = "Recorded by spocbot"
    page_size: int = Field(default=500, ge=1, le=1000)
    max_concurrent_requests: int = Field(default=4, ge=1, le=4)
    max_attempts: int = Field(default=5, ge=1, le=20)
    max_retry_after_seconds: float = Field(default=120, gt=0)
    automatic_replies: bool = True
    automatic_replies_refresh_seconds: float = Field(default=900, ge=0)

    @field_validator("tenant_id", "client_id", "category")
    @classmethod
    def _text(cls, value: str) -> str:
        return _plain_text(value)

    @property
    def graph_scope(self) -> str:
        """The scope of Graph tokens: the resource's ``/.default``."""
        if self.resource:
            return f"{self.resource.rstrip('/')}/.default"
        scheme, _, rest = self.base_url.partition("://")
        return f"{scheme}://{rest.split('/', 1)[0]}/.default"

    @property
    def outlook_scope(self) -> str:
        return f"{self.outlook_resource.rstrip('/')}/.default"

    @field_validator("authority", "base_url", "resource", "outlook_resource")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.rstrip("/")
        if not re.fullmatch(r"https://[^/\s]+(/[^\s]*)?", value):
            raise ValueError(f"must be an https:// URL, not {value!r}")
        return value

    @model_validator(mode="after")
    def _one_credential(self) -> Graph:
        given = [
            key
            for key in ("certificate_path", "client_secret_env", "client_secret_file")
            if getattr(self, key) is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of certificate_path (preferred), client_secret_env or "
                f"client_secret_file (given: {', '.join(given) or 'none'})"
            )
        return self


class MailboxRole(StrEnum):
    INFORMATION = "information"  # the housing information mailbox
    SPOC = "spoc"  # a SPOC officer's inbox
    STAFF = "staff"  # any other staff mailbox in scope
    BOT = "bot"  # the bot's own mailbox: receives a copy of each forward (exactly-once check)


IMAP_FOLDERS = ("INBOX",)
GRAPH_FOLDERS = ("inbox", "junkemail")  # Graph's well-known names for Inbox and Junk Email


class Mailbox(Secret):
    address: str
    role: Annotated[MailboxRole, _LAX]
    username: str | None = None
    folders: Annotated[tuple[str, ...], Field(min_length=1, strict=False)] = IMAP_FOLDERS

    _addr = field_validator("address")(_address)

    @property
    def login(self) -> str:
        return self.username or self.address


class Watch(_Section):
    poll_seconds: float = Field(default=60, gt=0)
    first_sync_days: int = Field(default=7, ge=0)
    tag_keyword: str = "$SpocbotHandled"
    mark_seen: bool = False
    confirm_seconds: float = Field(default=30, ge=0)
    max_message_bytes: int = Field(default=50 * 1024 * 1024, gt=0)
    header_batch: int = Field(default=500, ge=1, le=5000)
    retry_initial_seconds: float = Field(default=5, gt=0)
    retry_max_seconds: float = Field(default=300, gt=0)

    @model_validator(mode="after")
    def _backoff(self) -> Watch:
        if self.retry_max_seconds < self.retry_initial_seconds:
            raise ValueError(
                f"retry_max_seconds ({self.retry_max_seconds:g}) must not be less than "
                f"retry_initial_seconds ({self.retry_initial_seconds:g})"
            )
        return self

    @field_validator("tag_keyword")
    @classmethod
    def _atom(cls, value: str) -> str:
        # RFC 3501 atom: printable ASCII without specials; a leading backslash is a system flag.
        if value and not re.fullmatch(r"[!#$&\'+,\-./0-9:;<=>?@A-Z^_`a-z|~]+", value):
            raise ValueError("an IMAP keyword must be printable ASCII such as $SpocbotHandled")
        return value


class Matching(_Section):
    strip_subaddress_domains: Texts = ()
    possible_matches: bool = True  # look in unknown senders' mail for customers' refs and names
    scan_bytes: int = Field(default=256 * 1024, ge=1024)  # how much of such a message to read

    _domains = field_validator("strip_subaddress_domains")(_domains)


class Emergency(_Section):
    forward_to: str | None = None
    name: Annotated[str, Field(max_length=200)] = "Emergency route"
    phrases: Texts | None = None  # None: the built-in list

    _addr = field_validator("forward_to")(lambda v: None if v is None else _address(v))
    _name = field_validator("name")(_plain_text)  # it goes into the To: of every such forward

    @field_validator("phrases")
    @classmethod
    def _phrases(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("give at least one phrase, or leave phrases out for the built-in list")
        cleaned = []
        for index, phrase in enumerate(value):
            try:
                cleaned.append(_phrase(phrase))
            except ValueError as exc:
                raise ValueError(f"phrases[{index}]: {exc}") from None
        return tuple(dict.fromkeys(cleaned))

    @property
    def phrase_list(self) -> tuple[str, ...]:
        return DEFAULT_EMERGENCY_PHRASES if self.phrases is None else self.phrases


class Acknowledge(_Section):
    min_hours_between: float = Field(default=24, ge=0)
    max_age_hours: float = Field(default=72, gt=0)  # no acknowledgement for older mail


_CLOCK_TIME = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _clock_time(value: str) -> str:
    if not _CLOCK_TIME.fullmatch(value):
        raise ValueError(f"not a time of day as HH:MM (24-hour): {value!r}")
    return value


def _days(value: tuple[int, ...]) -> tuple[int, ...]:
    if any(day < 0 or day > 366 for day in value):
        raise ValueError("days before must be from 0 (on the day) to 366")
    return tuple(sorted(set(value), reverse=True))


class Schedule(_Section):
    """When `spocbot run` does each job (times are Europe/London, or [organisation] timezone).

    Each job works out from the database what is due, so a tick missed while the service was
    down is caught up once at the next start, and a repeated tick does nothing."""

    poll_seconds: float | None = Field(default=None, gt=0)  # None: [watch] poll_seconds
    reminders_at: str = "08:00"
    breaches_digest_at: str = "07:30"  # daily
    reviews_digest_on: str = "monday 08:00"  # weekly: DAY HH:MM

    _times = field_validator("reminders_at", "breaches_digest_at")(_clock_time)

    @field_validator("reviews_digest_on")
    @classmethod
    def _day_and_time(cls, value: str) -> str:
        parts = value.lower().split()
        if len(parts) != 2 or parts[0] not in WEEKDAYS:
            raise ValueError(f"give a day and a time such as 'monday 08:00', not {value!r}")
        _clock_time(parts[1])
        return " ".join(parts)

    @property
    def reviews_weekday(self) -> int:
        return WEEKDAYS.index(self.reviews_digest_on.split()[0])

    @property
    def reviews_time(self) -> str:
        return self.reviews_digest_on.split()[1]


class Reminders(_Section):
    """Reminders of review dates (SPOC and DMO) and appeal decisions (DMO)."""

    review_days_before: Annotated[tuple[int, ...], _LAX] = (28, 14, 7, 1, 0)
    # To the DMO until the review is recorded.
    overdue_every_days: int = Field(default=7, ge=1, le=366)
    lapse_days_before: Annotated[tuple[int, ...], _LAX] = (28, 7, 1)  # lapse_at_review: DMO
    appeal_working_days_before: Annotated[tuple[int, ...], _LAX] = (2, 1, 0)

    _offsets = field_validator(
        "review_days_before", "lapse_days_before", "appeal_working_days_before"
    )(_days)


class Letters(_Section):
    """What letters say about the organisation, and the Word letterhead they are printed on."""

    emergency_phone: str | None = None  # the contact centre number, always open to emergencies
    emergency_contact: Annotated[str, Field(max_length=200)] = "our contact centre"
    appeals_to: str | None = None  # where appeals are sent; default [organisation] dmo_email
    appeals_postal_address: Texts = ()
    signatory_name: Annotated[str, Field(max_length=200)] = "Data Management Officer"
    signatory_title: Annotated[str, Field(max_length=200)] = ""
    organisation_address: Texts = ()  # lines printed in the letterhead
    letterhead: LaxPath | None = None  # a .docx with the placeholders; None: the built-in one
    templates_dir: LaxPath | None = None  # the organisation's own letter templates, by file name

    _addr = field_validator("appeals_to")(lambda v: None if v is None else _address(v))
    _names = field_validator("emergency_contact", "signatory_name")(_plain_text)


class Digests(_Section):
    """The DMO's digests of breaches (daily) and reviews (weekly)."""

    to: Texts = ()  # default: [organisation] dmo_email
    chart_weeks: int = Field(default=12, ge=1, le=104)
    reviews_ahead_days: int = Field(default=30, ge=1, le=366)

    @field_validator("to")
    @classmethod
    def _recipients(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_address(v) for v in value)


class Retention(_Section):
    """How long records about an arrangement are kept once it has ended (policy §8), and how
    long the working copies of messages no arrangement claimed are kept: quarantined
    messages from when they arrived, review items from when they were dismissed."""

    months_after_end: int = Field(default=6, ge=1, le=120)
    quarantine_months: int = Field(default=6, ge=1, le=120)


class Flags(_Section):
    """Other systems in which an arrangement is flagged (policy §6): a "raise flag" task per
    system when an arrangement starts, a "remove flag" task when it ends."""

    systems: Texts = ("CRM", "Housing management system")

    @field_validator("systems")
    @classmethod
    def _systems(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        names = tuple(_plain_text(v).strip() for v in value)
        folded = [n.casefold() for n in names]
        twice = sorted({n for n in names if folded.count(n.casefold()) > 1})
        if twice:
            raise ValueError(f"system listed twice: {', '.join(twice)}")
        return names


class Sharing(_Section):
    """The partner council, told of arrangements under a data sharing agreement (policy §7)."""

    partner_name: Annotated[str, Field(max_length=200)] = "the partner council"
    _names = field_validator("partner_name")(_plain_text)


class AddressesInLogs(StrEnum):
    """How much of an email address the logs show."""

    FULL = "full"  # jo.bloggs@example.org
    PARTIAL = "partial"  # j…@example.org
    DOMAIN = "domain"  # …@example.org
    NONE = "none"  # …


class Logging(_Section):
    addresses: Annotated[AddressesInLogs, _LAX] = AddressesInLogs.PARTIAL


class Settings(_Section):
    organisation: Organisation
    storage: Storage
    backend: Backend
    imap: Imap | None = None
    smtp: Smtp | None = None
    graph: Graph | None = None
    mailboxes: Annotated[tuple[Mailbox, ...], Field(min_length=1, strict=False)]
    watch: Watch = Watch()
    matching: Matching = Matching()
    emergency: Emergency = Emergency()
    acknowledge: Acknowledge = Acknowledge()
    schedule: Schedule = Schedule()
    reminders: Reminders = Reminders()
    letters: Letters = Letters()
    digests: Digests = Digests()
    retention: Retention = Retention()
    flags: Flags = Flags()
    sharing: Sharing = Sharing()
    logging: Logging = Logging()
    topics: dict[str, Texts] = Field(default_factory=dict)
    """Subject-matter topics: NAME = [keywords]; a message is about a topic if any keyword is
    in its subject or text (whole words, any case)."""

    @field_validator("topics")
    @classmethod
    def _topics(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        cleaned: dict[str, tuple[str, ...]] = {}
        for name, words in value.items():
            key = name.strip().lower()
            if not key:
                raise ValueError("a topic needs a name")
            if key in cleaned:
                raise ValueError(
                    f"topic {key!r} is given twice (topic names are compared ignoring case)"
                )
            kept = tuple(w.strip() for w in words if w.strip())
            if not kept:
                raise ValueError(f"topic {name!r} has no keywords")
            cleaned[key] = kept
        return cleaned

    @model_validator(mode="before")
    @classmethod
    def _default_folders(cls, data: Any) -> Any:
        """Mailboxes without ``folders`` watch Inbox (and Junk on Graph, where it is named)."""
        if not isinstance(data, dict) or not isinstance(data.get("mailboxes"), list):
            return data
        backend = data.get("backend")
        graph = isinstance(backend, dict) and backend.get("kind") == BackendKind.GRAPH.value
        default = list(GRAPH_FOLDERS if graph else IMAP_FOLDERS)
        mailboxes = [
            {"folders": default, **m} if isinstance(m, dict) else m for m in data["mailboxes"]
        ]
        return {**data, "mailboxes": mailboxes}

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.backend.kind is BackendKind.IMAP:
            if self.imap is None:
                raise ValueError("[imap] is required when [backend] kind = 'imap'")
            if self.smtp is None:
                raise ValueError("[smtp] is required when [backend] kind = 'imap'")
        if self.backend.kind is BackendKind.GRAPH:
            # Keys that would do nothing mislead whoever reads the file: refuse them.
            for name in ("imap", "smtp"):
                if getattr(self, name) is not None:
                    raise ValueError(
                        f"[{name}] is not used with [backend] kind = 'graph' (Graph reads and "
                        "sends through the app registration): remove it"
                    )
            for index, mailbox in enumerate(self.mailboxes):
                if mailbox.password_env or mailbox.password_file or mailbox.username:
                    raise ValueError(
                        f"mailboxes[{index}]: password_env, password_file and username are not "
                        "used with [backend] kind = 'graph': remove them"
                    )
        if self.graph is None:
            if self.backend.kind is BackendKind.GRAPH:
                raise ValueError("[graph] is required when [backend] kind = 'graph'")
            for name, section in (("imap", self.imap), ("smtp", self.smtp)):
                if section is not None and section.auth == "xoauth2":
                    raise ValueError(
                        f"[graph] (the app registration) is required when [{name}] auth = 'xoauth2'"
                    )
        addresses = [m.address for m in self.mailboxes]
        duplicates = sorted({a for a in addresses if addresses.count(a) > 1})
        if duplicates:
            raise ValueError(f"mailbox listed twice: {', '.join(duplicates)}")
        if self.emergency.forward_to == self.organisation.bot_address:
            raise ValueError(
                "emergency.forward_to: must not be the bot's own address (emergency forwards "
                "would reach nobody)"
            )
        bots = [m for m in self.mailboxes if m.role is MailboxRole.BOT]
        if len(bots) != 1 or bots[0].address != self.organisation.bot_address:
            raise ValueError(
                "exactly one [[mailboxes]] entry must have role = 'bot' and the address "
                "[organisation] bot_address (it receives a copy of every forward so that a "
                "send interrupted by a crash is never repeated)"
            )
        return self

    @property
    def poll_seconds(self) -> float:
        """How often the watcher polls: [schedule] poll_seconds, else [watch] poll_seconds."""
        given = self.schedule.poll_seconds
        return self.watch.poll_seconds if given is None else given

    @property
    def digest_recipients(self) -> tuple[str, ...]:
        return self.digests.to or (self.organisation.dmo_email,)

    @property
    def appeals_to(self) -> str:
        return self.letters.appeals_to or self.organisation.dmo_email

    @property
    def watched(self) -> tuple[Mailbox, ...]:
        """The mailboxes scanned for customer mail (all but the bot's own)."""
        return tuple(m for m in self.mailboxes if m.role is not MailboxRole.BOT)

    @property
    def bot_mailbox(self) -> Mailbox:
        return next(m for m in self.mailboxes if m.role is MailboxRole.BOT)


def config_path(explicit: str | os.PathLike[str] | None) -> Path:
    return Path(explicit or os.environ.get("SPOCBOT_CONFIG") or DEFAULT_CONFIG)


def load_settings(path: Path) -> Settings:
    """Read and validate the configuration file at ``path``."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(
            f"{path}: configuration file not found (give --config FILE or set SPOCBOT_CONFIG; "
            "spocbot.example.toml documents every key)"
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_describe(exc)}") from None
    return _anchor_paths(settings, path.parent)


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        key = _key(error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        elif error["type"] == "missing":
            message = "missing (required)"
        lines.append(f"{key}: {message}" if key else message)
    return "; ".join(lines)


def _key(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1] = f"{parts[-1]}[{item}]" if parts else f"[{item}]"
        else:
            parts.append(str(item))
    return ".".join(parts)


def _anchor_paths(settings: Settings, base: Path) -> Settings:
    def anchor(p: Path | None) -> Path | None:
        return p if p is None or p.is_absolute() else (base / p).resolve()

    storage = settings.storage.model_copy(
        update={
            "evidence_dir": anchor(settings.storage.evidence_dir),
            "database_url": _anchor_sqlite(settings.storage.database_url, base),
        }
    )
    mailboxes = tuple(
        m.model_copy(update={"password_file": anchor(m.password_file)}) for m in settings.mailboxes
    )
    smtp = settings.smtp
    if smtp is not None:
        smtp = smtp.model_copy(update={"password_file": anchor(smtp.password_file)})
    graph = settings.graph
    if graph is not None:
        graph = graph.model_copy(
            update={
                "certificate_path": anchor(graph.certificate_path),
                "client_secret_file": anchor(graph.client_secret_file),
                "ca_bundle": anchor(graph.ca_bundle),
            }
        )
    templates_dir = anchor(settings.letters.templates_dir)
    if templates_dir is not None and not templates_dir.is_dir():
        # Else every letter would quietly use the built-in templates instead of the
        # organisation's own.
        raise ConfigError(
            f"letters.templates_dir: {templates_dir} is not a folder (it holds the "
            "organisation's own letter templates; leave the key out to use the built-in ones)"
        )
    letters = settings.letters.model_copy(
        update={"letterhead": anchor(settings.letters.letterhead), "templates_dir": templates_dir}
    )
    return settings.model_copy(
        update={
            "storage": storage,
            "mailboxes": mailboxes,
            "smtp": smtp,
            "graph": graph,
            "letters": letters,
        }
    )


def _anchor_sqlite(url: str, base: Path) -> str:
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith("sqlite:////"):
        relative = url[len(prefix) :]
        if relative and relative != ":memory:":
            return prefix + str((base / relative).resolve())
    return url


def resolve_secret(source: Secret, key: str) -> str | None:
    """The password named by ``source``, or None if it names none.  ``key`` is for errors."""
    if source.password_env:
        value = os.environ.get(source.password_env)
        if value is None:
            raise ConfigError(
                f"{key}.password_env: environment variable {source.password_env} is not set"
            )
        return value
    if source.password_file:
        try:
            return source.password_file.read_text(encoding="utf-8").strip()
        except UnicodeDecodeError:
            raise ConfigError(
                f"{key}.password_file: {source.password_file} is not UTF-8 text"
            ) from None
        except OSError as exc:
            raise ConfigError(
                f"{key}.password_file: cannot read {source.password_file}: {exc}"
            ) from exc
    return None
