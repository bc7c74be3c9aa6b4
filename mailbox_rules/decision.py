"""The decision: what to do with one message found in one watched mailbox, and why.

:func:`decide` runs the rules in :mod:`mailbox_rules.rules` and then works out the route —
the SPOC, or the cover officer while the SPOC is absent, or the DMO when neither can act.
Outcomes are data: the service turns a :class:`Decision` into records and forwards.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from mailbox_rules.envelope import REPORT_MARKER, Envelope
from mailbox_rules.register import (
    Arrangement,
    ArrangementStatus,
    Officer,
    PriorContact,
    Register,
)
from mailbox_rules.rules import (
    IDENTITY_RULES,
    LONDON,
    RESTRICTIONS,
    RULES,
    DecisionKind,
    Finding,
    RuleContext,
    emergency_phrases_in,
)

__all__ = ["Decision", "DecisionKind", "EmergencyCopy", "arrangement_of", "decide"]


@dataclass(frozen=True)
class EmergencyCopy:
    """Another officer an emergency goes to, as the officer of another customer it may be from
    (its sender addresses belong to several customers)."""

    customer_ref: str
    route_to: Officer
    route_reason: str


@dataclass(frozen=True)
class Decision:
    """The outcome for one sighting of a message."""

    kind: DecisionKind
    rules: tuple[str, ...]
    reasons: tuple[str, ...]
    customer_ref: str | None = None
    route_to: Officer | None = None
    route_reason: str = ""
    new_issue: bool = False  # not a reply in a known thread
    needs_content: bool = False  # decided from headers; decide again with the message text
    emergency_route: Officer | None = None  # also forwarded here (emergencies)
    acknowledge_to: str | None = None  # send the sender an automatic acknowledgement
    contact_officer: Officer | None = None  # who deals with it: the SPOC, or cover while away
    candidates: tuple[str, ...] = ()  # review: customers the message may belong to
    # An emergency whose sender a person must still identify is also put in the review queue
    # (``candidates``), and goes to the officer of every customer it may be from (``also_to``).
    also_to: tuple[EmergencyCopy, ...] = ()

    @property
    def breached(self) -> bool:
        """A restriction was broken (an emergency may also be a breach)."""
        return self.kind is DecisionKind.BREACH or (
            self.kind is DecisionKind.EMERGENCY and any(r in _RESTRICTION_NAMES for r in self.rules)
        )

    @property
    def forwards(self) -> bool:
        return self.route_to is not None

    @property
    def needs_raw_message(self) -> bool:
        """Whether the service must fetch the whole message (evidence, forward or quarantine).

        An ignored message that ``needs_content`` (an unknown sender's, read for a customer's
        reference or name) needs only the start of its text, and nothing is kept of it.
        """
        return (
            self.kind in (DecisionKind.BREACH, DecisionKind.REVIEW, DecisionKind.EMERGENCY)
            or self.forwards
            or (self.needs_content and self.kind is not DecisionKind.IGNORE)
        )


def decide(
    envelope: Envelope,
    register: Register,
    now: datetime,
    *,
    dmo: Officer | None = None,
    zone: ZoneInfo = LONDON,
    history: Sequence[PriorContact] = (),
    content: str | None = None,
    topics: Mapping[str, Sequence[str]] | None = None,
    emergency_phrases: Sequence[str] = (),
    emergency_route: Officer | None = None,
    confirmed_customer: str | None = None,
) -> Decision:
    """Decide what to do with ``envelope`` under ``register`` at time ``now`` (UTC-aware).

    ``history`` is the customer's earlier contacts (for limits and threads), ``content`` the
    message's subject and body text once fetched (for subject matters and emergencies; a
    :class:`~mailbox_rules.content.MessageText` also brings its text attachments, read for
    emergencies only, and its body's digest, which tells a message that reuses a Message-ID
    from a copy of the same one), ``topics`` the configured topic keywords.  Absences, hours
    and periods are counted in ``zone``.
    A message whose text holds one of ``emergency_phrases`` is an emergency: it goes to the
    SPOC (or cover) and to ``emergency_route`` whatever else is true of it.

    ``confirmed_customer`` is a person's answer from the review queue: the message is that
    customer's, whatever its sender addresses say, so the gates about identity are skipped.

    An emergency is never held by a gate either (policy: an emergency must never be lost
    because of a restriction).  When a customer under an arrangement in force is among the
    authors of a message that a gate would ignore as automatic (an auto-reply, bulk mail) or
    hold for review (several customers or authors, an unreadable sender), the decision asks
    for the text (``needs_content``) and, if it holds an emergency phrase, is an emergency:
    see :func:`_emergency_despite_gate`.
    """
    if confirmed_customer is not None:
        arrangement = register.by_ref(confirmed_customer)
        if arrangement is None:
            raise ValueError(f"no arrangement for customer {confirmed_customer}")
    else:
        arrangement = arrangement_of(envelope, register)
    ctx = RuleContext(
        envelope=envelope,
        register=register,
        now=now,
        arrangement=arrangement,
        zone=zone,
        history=history,
        content=content,
        topics=topics or {},
        emergency_phrases=emergency_phrases,
    )
    for rule in RULES if confirmed_customer is None else _ONCE_IDENTIFIED:
        finding = rule.check(ctx)
        if finding is None:
            continue
        held = _held_customers(rule.name, finding, ctx) if emergency_phrases else ()
        if held and content is not None:
            phrases = emergency_phrases_in(ctx)
            if phrases:
                return _emergency_despite_gate(
                    rule.name, finding, held, phrases, ctx, dmo, emergency_route
                )
        # Held customers' mail is read first: it may be an emergency.
        read_first = bool(held) and content is None
        if finding.kind is DecisionKind.REVIEW:
            # Whose message it is, is exactly what a person must decide: attribute it to nobody.
            return Decision(
                finding.kind,
                (rule.name,),
                (finding.reason,),
                candidates=finding.candidates,
                needs_content=read_first,
            )
        ref = arrangement.customer_ref if arrangement else None
        # An unknown sender's text may still name a customer (possible-match): read it first.
        scan = rule.name == "unknown-sender" and content is None and ctx.may_be_a_customer
        return _gate_decision(finding.kind, rule.name, finding.reason, ref, scan or read_first)
    assert arrangement is not None  # every gate passed: a customer under a restriction
    broken = [(rule.name, f) for rule in RESTRICTIONS if (f := rule.check(ctx)) is not None]
    if broken:
        kind = DecisionKind.BREACH
        names = tuple(name for name, _ in broken)
        reasons = tuple(f.reason for _, f in broken)
    else:
        kind = DecisionKind.ALLOWED
        names = ("permitted-route",)
        reasons = (f"sent by the permitted route ({envelope.found_in})",)
    if any(register.is_representative(a) for a in envelope.identities):
        reasons += ("sent by the customer's agreed representative",)
    route_to, route_reason = _route(arrangement, register, now.astimezone(zone).date(), dmo)
    found = tuple(emergency_phrases_in(ctx))
    acknowledge_to = _acknowledge_to(envelope, arrangement)
    contact_officer = _contact_officer(arrangement, route_to)
    if found:
        # Never held: forwarded at once to the officer *and* the emergency route, with any
        # restriction it also broke still recorded beside it.
        broken_names = tuple(name for name, _ in broken)
        return Decision(
            DecisionKind.EMERGENCY,
            ("emergency", *broken_names),
            (f"emergency or safeguarding words: {', '.join(found)}", *reasons[: len(broken)]),
            arrangement.customer_ref,
            route_to,
            route_reason,
            new_issue=ctx.starts_new_issue,
            emergency_route=emergency_route,
            acknowledge_to=acknowledge_to,
            contact_officer=contact_officer,
        )
    screening = arrangement.status is ArrangementStatus.CEASE_AND_DESIST
    if kind is DecisionKind.ALLOWED and screening:
        # Cease and desist (policy §5.3): every message is passed on to be screened.
        route_reason = f"cease and desist: every message is screened; {route_reason}"
    elif kind is DecisionKind.ALLOWED and (
        route_to == arrangement.spoc or not _reached_spoc(envelope, arrangement)
    ):
        # Allowed mail is already with whoever the customer may write to.  Only mail that
        # reached the SPOC while they are away is passed on, so that it is not left unread.
        route_to, route_reason = None, ""
    return Decision(
        kind,
        names,
        reasons,
        arrangement.customer_ref,
        route_to,
        route_reason,
        new_issue=ctx.starts_new_issue,
        needs_content=content is None and bool(arrangement.subject_matters or emergency_phrases),
        acknowledge_to=acknowledge_to,
        contact_officer=contact_officer,
    )


_ONCE_IDENTIFIED = tuple(rule for rule in RULES if rule.name not in IDENTITY_RULES)
_RESTRICTION_NAMES = frozenset(rule.name for rule in RESTRICTIONS)
_IN_FORCE = frozenset({ArrangementStatus.ACTIVE, ArrangementStatus.CEASE_AND_DESIST})
# The gates that would otherwise ignore or hold a message whose authors include a customer.
_HOLDING_GATES = frozenset(
    {"automatic-message", "unreadable-sender", "several-customers", "ambiguous-sender"}
)


def _held_customers(rule: str, finding: Finding, ctx: RuleContext) -> tuple[Arrangement, ...]:
    """The customers under an arrangement in force among the authors of a message that the
    gate ``rule`` ignores or holds, the author in From first; () when the gate holds nobody's.

    Delivery and disposition reports are machine-made reports about another message (which
    they quote), never a customer writing: they stay ignored.
    """
    if rule not in _HOLDING_GATES:
        return ()
    if rule == "automatic-message":
        if (ctx.envelope.automatic or "").startswith(REPORT_MARKER):
            return ()
        found = [ctx.arrangement] if ctx.arrangement is not None else []
    else:
        found = [a for ref in finding.candidates if (a := ctx.register.by_ref(ref)) is not None]
        if ctx.arrangement in found:  # the customer whose address comes first
            found.remove(ctx.arrangement)
            found.insert(0, ctx.arrangement)
    day = ctx.local_received.date()
    return tuple(
        a for a in found if a.status in _IN_FORCE and day >= a.start_date and not a.lapsed_by(day)
    )


def _emergency_despite_gate(
    rule: str,
    finding: Finding,
    held: tuple[Arrangement, ...],
    phrases: Sequence[str],
    ctx: RuleContext,
    dmo: Officer | None,
    emergency_route: Officer | None,
) -> Decision:
    """An emergency in a message that the gate ``rule`` would ignore or hold.

    It goes, at once, to the emergency route and to the officer (SPOC, cover or DMO, as
    routing decides) of the first customer among its authors; when its authors are several
    customers, to each other customer's officer too (:class:`EmergencyCopy`): each may be the
    one in danger, and each officer knows their own customer.  It is recorded as that first
    customer's emergency contact, never as a breach (the restrictions are not judged: it is
    automatic mail, or nobody knows yet whose it is), and is not acknowledged (RFC 3834: no
    automatic reply to automatic mail; nor to a sender nobody has identified).  A message
    held for review stays in the review queue too (``candidates``), so that a person still
    says whose it is.
    """
    today = ctx.now.astimezone(ctx.zone).date()
    primary = held[0]
    route_to, route_reason = _route(primary, ctx.register, today, dmo)
    copies: list[EmergencyCopy] = []
    sent_to = {route_to.email} if route_to is not None else set()
    for other in held[1:]:
        officer, reason = _route(other, ctx.register, today, dmo)
        if officer is not None and officer.email not in sent_to:
            sent_to.add(officer.email)
            copies.append(EmergencyCopy(other.customer_ref, officer, reason))
    review = finding.kind is DecisionKind.REVIEW
    held_as = (
        "it is also in the review queue for a person to say whose it is"
        if review
        else "passed on all the same: an emergency is never ignored"
    )
    return Decision(
        DecisionKind.EMERGENCY,
        ("emergency", rule),
        (f"emergency or safeguarding words: {', '.join(phrases)}", f"{finding.reason}; {held_as}"),
        primary.customer_ref,
        route_to,
        route_reason,
        emergency_route=emergency_route,
        contact_officer=_contact_officer(primary, route_to),
        candidates=finding.candidates if review else (),
        also_to=tuple(copies),
    )


_GATE_DECISIONS: dict[tuple[object, ...], Decision] = {}


def _gate_decision(
    kind: DecisionKind, rule: str, reason: str, ref: str | None, needs_content: bool
) -> Decision:
    """The decision of a gate rule.  Decisions are immutable and most messages (strangers',
    auto-replies) end at a gate with the same few reasons, so those are made once and shared."""
    if ref is not None:
        return Decision(kind, (rule,), (reason,), ref, needs_content=needs_content)
    key = (kind, rule, reason, needs_content)
    decision = _GATE_DECISIONS.get(key)
    if decision is None:
        decision = Decision(kind, (rule,), (reason,), None, needs_content=needs_content)
        if len(_GATE_DECISIONS) < 1024:
            _GATE_DECISIONS[key] = decision
    return decision


def arrangement_of(envelope: Envelope, register: Register) -> Arrangement | None:
    """The arrangement of the customer (or representative) who wrote ``envelope``, if any."""
    for address in envelope.identities:
        arrangement = register.arrangement_for(address)
        if arrangement is not None:
            return arrangement
    return None


# Compared with the local part's separators (. _ - +) removed: no_reply, no.reply, do_not_reply
# and noreply-123 are all "noreply...".  Anywhere in the local part for the no-reply words
# (alerts-noreply@), at its start for the system mailboxes (bounces+123@, mailer-daemon@).
_NO_REPLY_WORDS = ("noreply", "donotreply", "dontreply")
_SYSTEM_LOCAL_PARTS = ("bounce", "mailerdaemon", "postmaster")
_SEPARATORS = re.compile(r"[._+-]")


def is_no_reply_address(address: str) -> bool:
    """An address that must never get an automatic reply: no-reply senders (in any spelling:
    no-reply, no_reply, no.reply, noreply, do-not-reply, donotreply...), bounce addresses,
    MAILER-DAEMON and postmaster."""
    local = _SEPARATORS.sub("", address.rpartition("@")[0].lower())
    return any(word in local for word in _NO_REPLY_WORDS) or local.startswith(_SYSTEM_LOCAL_PARTS)


def _acknowledge_to(envelope: Envelope, arrangement: Arrangement) -> str | None:
    """RFC 3834: acknowledge only a registered address, never bulk mail or a no-reply address
    (delivery reports and auto-replies never get this far)."""
    if not arrangement.acknowledge or envelope.bulk:
        return None
    registered = arrangement.customer_emails | arrangement.representative_emails
    for address in envelope.from_addresses:
        if address in registered and not is_no_reply_address(address):
            return address
    return None


def _contact_officer(arrangement: Arrangement, route_to: Officer | None) -> Officer:
    """Whom the customer should expect to hear from: the SPOC, or the cover officer."""
    if route_to is not None and route_to == arrangement.cover:
        return route_to
    return arrangement.spoc


def _reached_spoc(envelope: Envelope, arrangement: Arrangement) -> bool:
    spoc = arrangement.spoc.email.lower()
    return envelope.found_in == spoc or spoc in envelope.recipients


def _route(
    arrangement: Arrangement, register: Register, today: date, dmo: Officer | None
) -> tuple[Officer | None, str]:
    spoc, cover = arrangement.spoc, arrangement.cover
    if not register.is_absent(spoc, today):
        return spoc, f"to SPOC {spoc.name}"
    if cover is not None and not register.is_absent(cover, today):
        return cover, f"SPOC {spoc.name} is absent; to cover officer {cover.name}"
    if dmo is not None:
        missing = (
            "no cover officer" if cover is None else f"cover officer {cover.name} is absent too"
        )
        return dmo, f"SPOC {spoc.name} is absent and {missing}; to the DMO"
    return spoc, f"SPOC {spoc.name} is absent and nobody else can act; to SPOC anyway"
