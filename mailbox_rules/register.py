"""The decision core's read-only view of the SPOC register.

These are plain frozen values built by the service from the database once per pass; the
core never sees ORM objects.  Addresses are stored lower-cased addr-specs (``local@domain``)
so that matching is a set lookup.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from mailbox_rules.possible_match import PossibleMatchIndex
from mailbox_rules.restrictions import ContactHours, Limit


class ArrangementStatus(enum.StrEnum):
    """Where an arrangement stands (policy §4)."""

    ACTIVE = "active"
    WARNING = "warning"
    CEASE_AND_DESIST = "cease_and_desist"
    CEASED = "ceased"


def in_domains(address: str, domains: frozenset[str]) -> bool:
    """Whether ``address`` (lower case) is in one of ``domains`` or a subdomain of one:
    ``x@mail.homes.example`` is in ``homes.example``."""
    domain = address.rpartition("@")[2]
    while domain:
        if domain in domains:
            return True
        domain = domain.partition(".")[2]
    return False


@dataclass(frozen=True)
class Officer:
    """A member of staff who can be a SPOC or a cover officer."""

    name: str
    email: str


@dataclass(frozen=True)
class Absence:
    """An officer's leave, inclusive calendar dates in Europe/London."""

    officer_email: str
    starts_on: date
    ends_on: date

    def covers(self, day: date) -> bool:
        return self.starts_on <= day <= self.ends_on


@dataclass(frozen=True)
class Arrangement:
    """One customer's SPOC arrangement, as the core needs it."""

    customer_ref: str
    customer_name: str
    customer_emails: frozenset[str]
    spoc: Officer
    cover: Officer | None
    restricted_to: frozenset[str]
    status: ArrangementStatus
    start_date: date
    review_date: date
    representative_emails: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()  # empty: every channel permitted
    contact_hours: ContactHours | None = None
    max_contacts: Limit | None = None
    max_issues: Limit | None = None
    subject_matters: frozenset[str] = frozenset()  # empty: every topic permitted
    acknowledge: bool = False
    lapses_on: date | None = None
    """The review date of an arrangement that lapses at review (``lapse_at_review``): from that
    day it restricts nothing, whether or not the service has yet recorded it as ended."""

    def lapsed_by(self, day: date) -> bool:
        """Whether the arrangement has lapsed at its review by ``day``."""
        return self.lapses_on is not None and day >= self.lapses_on

    def __post_init__(self) -> None:
        # Compared as lower-case addr-specs everywhere; normalise once, not per message.
        object.__setattr__(
            self, "customer_emails", frozenset(a.lower() for a in self.customer_emails)
        )
        object.__setattr__(
            self, "representative_emails", frozenset(a.lower() for a in self.representative_emails)
        )
        object.__setattr__(self, "restricted_to", frozenset(a.lower() for a in self.restricted_to))


@dataclass(frozen=True)
class PriorContact:
    """An earlier message from the same customer (breach or not), for limits and threads.

    One message can be recorded more than once (a breach for the copy in one mailbox, a
    contact for the copy in the SPOC's); a *different* message can reuse a Message-ID.  The
    two are told apart by ``body_sha256`` (None when the body was not read).
    """

    received_at: datetime
    message_id: str
    subject_key: str
    new_issue: bool
    body_sha256: str | None = None

    def same_message(self, message_id: str, body_sha256: str | None) -> bool:
        """Whether this is a record of the message ``message_id`` with that body (an unknown
        body on either side counts as the same: it cannot be told apart)."""
        return self.message_id == message_id and (
            self.body_sha256 is None or body_sha256 is None or self.body_sha256 == body_sha256
        )


@dataclass(frozen=True)
class Register:
    """Everything the core needs to know about the organisation for one decision."""

    arrangements: tuple[Arrangement, ...]
    absences: tuple[Absence, ...] = ()
    watched_mailboxes: frozenset[str] = frozenset()
    strip_subaddress_domains: frozenset[str] = frozenset()
    """Domains where ``name+tag@`` is the same mailbox as ``name@`` (configured, not assumed)."""
    staff_domains: frozenset[str] = frozenset()
    """The organisation's own mail domains: staff mail is never a possible customer match."""
    find_possible_matches: bool = True
    staff_addresses: frozenset[str] = frozenset()
    """The organisation's own addresses besides officers and watched mailboxes (DMO, bot)."""
    """Look in unknown senders' mail for registered customers' references and names."""
    _by_address: dict[str, Arrangement] = field(init=False, repr=False, compare=False)
    _by_ref: dict[str, Arrangement] = field(init=False, repr=False, compare=False)
    _staff: frozenset[str] = field(init=False, repr=False, compare=False)
    possible_matches: PossibleMatchIndex = field(init=False, repr=False, compare=False)
    _absences_of: dict[str, tuple[Absence, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_address: dict[str, Arrangement] = {}
        for arrangement in self.arrangements:
            for address in arrangement.representative_emails | arrangement.customer_emails:
                by_address[address.lower()] = arrangement
        object.__setattr__(self, "_by_address", by_address)
        object.__setattr__(self, "_by_ref", {a.customer_ref: a for a in self.arrangements})
        staff = set(self.watched_mailboxes) | {a.lower() for a in self.staff_addresses}
        for arrangement in self.arrangements:
            staff.add(arrangement.spoc.email.lower())
            if arrangement.cover is not None:
                staff.add(arrangement.cover.email.lower())
        object.__setattr__(self, "_staff", frozenset(staff))
        in_force = (
            (a.customer_ref, a.customer_name)
            for a in self.arrangements
            if a.status is not ArrangementStatus.CEASED
        )
        index = PossibleMatchIndex(in_force if self.find_possible_matches else ())
        object.__setattr__(self, "possible_matches", index)
        absences_of: dict[str, list[Absence]] = {}
        for absence in self.absences:
            absences_of.setdefault(absence.officer_email.lower(), []).append(absence)
        object.__setattr__(self, "_absences_of", {k: tuple(v) for k, v in absences_of.items()})

    @classmethod
    def build(
        cls,
        arrangements: Iterable[Arrangement],
        absences: Iterable[Absence] = (),
        watched_mailboxes: Iterable[str] = (),
        strip_subaddress_domains: Iterable[str] = (),
        staff_domains: Iterable[str] = (),
        find_possible_matches: bool = True,
        staff_addresses: Iterable[str] = (),
    ) -> Register:
        return cls(
            arrangements=tuple(arrangements),
            absences=tuple(absences),
            watched_mailboxes=frozenset(a.lower() for a in watched_mailboxes),
            strip_subaddress_domains=frozenset(d.lower() for d in strip_subaddress_domains),
            staff_domains=frozenset(d.lower() for d in staff_domains),
            find_possible_matches=find_possible_matches,
            staff_addresses=frozenset(a.lower() for a in staff_addresses),
        )

    def by_ref(self, customer_ref: str) -> Arrangement | None:
        return self._by_ref.get(customer_ref)

    def is_staff(self, address: str) -> bool:
        """An officer, a watched mailbox or an address in one of the organisation's domains
        (or their subdomains)."""
        address = address.lower()
        return address in self._staff or (
            bool(self.staff_domains) and in_domains(address, self.staff_domains)
        )

    def arrangement_for(self, address: str) -> Arrangement | None:
        """The arrangement whose customer owns ``address`` (case-insensitive addr-spec)."""
        address = address.lower()
        found = self._by_address.get(address)
        if found is None and "+" in address:
            local, _, domain = address.rpartition("@")
            if domain in self.strip_subaddress_domains:
                found = self._by_address.get(f"{local.split('+', 1)[0]}@{domain}")
        return found

    def is_representative(self, address: str) -> bool:
        arrangement = self.arrangement_for(address)
        return arrangement is not None and address.lower() in arrangement.representative_emails

    def is_absent(self, officer: Officer, day: date) -> bool:
        return any(a.covers(day) for a in self._absences_of.get(officer.email.lower(), ()))
