"""Correcting a register entry's factual data (UK GDPR art. 16, rectification): the customer's
name, email addresses and postal address, and the SPOC's and cover officer's phone numbers;
the support needs (restricted) from a file.

The restrictions and the reasons change only through a decision (`spocbot arrangement
review`), never here.  Each correction is audited with its reason: old and new values for the
ordinary fields, only "changed" for the restricted support needs.  The DMO's register file
is the source of the register: unless it is corrected too, the next import restores the old
value (the command says so).  Partner entries (`share import`) are read-only here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.audit import audit
from bot.errors import DomainError
from bot.lifecycle import check_text
from bot.person_data import find_customer, not_found, remember_former
from bot.register_file import LIST_SEPARATOR, MAX_ADDRESS_LINES, MAX_LENGTH, MAX_TEXT, PHONE_DIGITS
from bot.store import models as m
from mailbox_rules.envelope import is_addr_spec, normalise_address
from mailbox_rules.register import in_domains

FILE_WARNING = (
    "correct the DMO's register file too: the next `register import` of a file with the old "
    "value restores it"
)


class AmendRefused(DomainError):
    """A correction that cannot be made; the message says why."""


@dataclass(frozen=True)
class Amendment:
    reason: str
    name: str | None = None
    add_emails: tuple[str, ...] = ()
    remove_emails: tuple[str, ...] = ()
    postal_address: str | None = None
    spoc_phone: str | None = None
    cover_phone: str | None = None
    support_needs: str | None = None


@dataclass
class AmendResult:
    customer_ref: str
    changes: list[str] = field(default_factory=list)
    """What changed, as audited (restricted fields: only that they changed)."""


def partner_refusal(customer: m.Customer) -> str:
    return (
        f"{customer.ref} is {customer.partner or 'the partner council'}'s arrangement, imported "
        "by `spocbot share import`; it is read-only here"
    )


def amend(
    factory: sessionmaker[Session],
    ref: str,
    change: Amendment,
    *,
    operator: str,
    staff_addresses: set[str] = frozenset(),  # type: ignore[assignment]
    staff_domains: Iterable[str] = (),
) -> AmendResult:
    if not _wants_change(change):
        raise AmendRefused(
            "nothing to change: give at least one of --name, --add-email, --remove-email, "
            "--address, --spoc-phone, --cover-phone, --support-needs-file"
        )
    reason = check_text(change.reason, "--reason", 500, lines=False)
    if not reason:
        raise AmendRefused("--reason: say why the record is corrected (it is audited)")
    with factory.begin() as session:
        customer = find_customer(session, ref)
        if customer is None:
            raise AmendRefused(not_found(ref))
        ref = customer.ref
        if customer.source == "partner":
            raise AmendRefused(partner_refusal(customer))
        result = AmendResult(ref)
        if change.name is not None:
            name = check_text(change.name, "--name", MAX_LENGTH["customer_name"], lines=False)
            if not name:
                raise AmendRefused("--name: a customer needs a name")
            if name != customer.name:
                result.changes.append(f"name: {customer.name!r} -> {name!r}")
                remember_former(customer, "name", customer.name)
                customer.name = name
        domains = frozenset(d.lower() for d in staff_domains)
        _emails(session, customer, change, staff_addresses, domains, result)
        arrangement = customer.arrangement
        wants_arrangement = (
            change.postal_address,
            change.spoc_phone,
            change.cover_phone,
            change.support_needs,
        )
        if arrangement is None:
            if any(v is not None for v in wants_arrangement):
                raise AmendRefused(f"{ref} has no arrangement to correct")
        else:
            _arrangement_fields(arrangement, change, result)
        if not result.changes:
            raise AmendRefused(f"nothing to change: {ref}'s record already says that")
        audit(
            session,
            operator,
            "register.amend",
            f"customer:{ref}",
            customer_ref=ref,
            details=f"{'; '.join(result.changes)}; reason: {reason}",
        )
        return result


def _wants_change(change: Amendment) -> bool:
    return bool(change.add_emails or change.remove_emails) or any(
        value is not None
        for value in (
            change.name,
            change.postal_address,
            change.spoc_phone,
            change.cover_phone,
            change.support_needs,
        )
    )


def _emails(
    session: Session,
    customer: m.Customer,
    change: Amendment,
    staff: set[str],
    staff_domains: frozenset[str],
    result: AmendResult,
) -> None:
    have = {e.address for e in customer.emails}
    removing = {normalise_address(a) for a in change.remove_emails}
    missing = sorted(removing - have)
    if missing:
        raise AmendRefused(f"--remove-email: {missing[0]} is not one of {customer.ref}'s addresses")
    adding: list[str] = []
    for given in change.add_emails:
        address = normalise_address(given)
        if not is_addr_spec(address):
            raise AmendRefused(f"--add-email: {given!r} is not an email address")
        if address in staff:
            raise AmendRefused(f"--add-email: {address} is a staff address, not a customer's")
        if in_domains(address, staff_domains):
            raise AmendRefused(
                f"--add-email: {address} is in our staff domains ([organisation] staff_domains), "
                "not a customer's address"
            )
        officer = session.scalar(select(m.Officer.name).where(m.Officer.email == address))
        if officer is not None:  # ours are in the staff domains; a partner's officers are not
            raise AmendRefused(
                f"--add-email: {address} is the address of officer {officer}, not a customer's"
            )
        owner = session.scalar(
            select(m.Customer.ref).join(m.CustomerEmail).where(m.CustomerEmail.address == address)
        )
        if owner is not None and owner != customer.ref:
            raise AmendRefused(f"--add-email: {address} already belongs to customer {owner}")
        for other, representatives in session.execute(
            select(m.Customer.ref, m.Arrangement.representative_emails).join(m.Arrangement)
        ):
            if other != customer.ref and address in representatives.split(";"):
                raise AmendRefused(
                    f"--add-email: {address} is a representative's address for customer {other}"
                )
        if address not in have and address not in adding:
            adding.append(address)
    if removing and not (have - removing) and not adding:
        raise AmendRefused(
            f"--remove-email: {customer.ref} would have no email address left; add the new "
            "one in the same command (--add-email)"
        )
    for email in list(customer.emails):
        if email.address in removing:
            customer.emails.remove(email)
            remember_former(customer, "email", email.address)
            result.changes.append(f"email removed: {email.address}")
    session.flush()
    for address in adding:
        customer.emails.append(m.CustomerEmail(address=address, source="register"))
        result.changes.append(f"email added: {address}")


def _phone(value: str, what: str) -> str:
    text = value.strip()
    digits = sum(c.isdigit() for c in text)
    low, high = PHONE_DIGITS
    allowed = set("0123456789 +()-")
    if text and (not set(text) <= allowed or not low <= digits <= high):
        raise AmendRefused(
            f"{what}: not a phone number: {value!r} (use digits, spaces and + ( ) -, "
            f"with {low} to {high} digits)"
        )
    return text


def _arrangement_fields(arrangement: m.Arrangement, change: Amendment, result: AmendResult) -> None:
    if change.postal_address is not None:
        text = check_text(
            change.postal_address, "--address", MAX_TEXT["customer_address"], lines=False
        )
        lines = [line.strip() for line in text.split(LIST_SEPARATOR) if line.strip()]
        if len(lines) > MAX_ADDRESS_LINES:
            raise AmendRefused(f"--address: more than {MAX_ADDRESS_LINES} lines (separated by ;)")
        value = LIST_SEPARATOR.join(lines)
        if value != arrangement.customer_address:
            result.changes.append(f"postal address: {arrangement.customer_address!r} -> {value!r}")
            arrangement.customer_address = value
    for attribute, option, label in (
        ("spoc_phone", "--spoc-phone", "SPOC phone"),
        ("cover_phone", "--cover-phone", "cover phone"),
    ):
        given = getattr(change, attribute)
        if given is None:
            continue
        value = _phone(given, option)
        if attribute == "cover_phone" and value and arrangement.cover_id is None:
            raise AmendRefused("--cover-phone: the arrangement has no cover officer")
        old = getattr(arrangement, attribute)
        if value != old:
            result.changes.append(f"{label}: {old!r} -> {value!r}")
            setattr(arrangement, attribute, value)
    if change.support_needs is not None:
        value = check_text(change.support_needs, "--support-needs-file", MAX_TEXT["support_needs"])
        if value != arrangement.support_needs:
            result.changes.append("support needs: changed (restricted; not shown)")
            arrangement.support_needs = value
