"""The policy rules, one small named component each (modelled on Mailman 3's sender rules).

A rule looks at a :class:`RuleContext` and either does not apply (returns ``None``) or
returns a :class:`Finding`: the decision kind it calls for and a plain-English reason.
:func:`mailbox_rules.decision.decide` runs the gate rules (:data:`RULES`) in order and stops at
the first finding, so their order *is* the policy's precedence; for a customer under an
active arrangement it then runs every restriction (:data:`RESTRICTIONS`) and reports all that
were broken.  Routing (who gets a forward) is an action, kept apart in
:mod:`mailbox_rules.decision`.

Reasons are shown to SPOC officers in cover notes and to the DMO in listings, so they say what
happened to the message and never why the arrangement exists.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from mailbox_rules.content import MessageText, body_of
from mailbox_rules.emergency import find_phrases
from mailbox_rules.envelope import Envelope
from mailbox_rules.register import Arrangement, ArrangementStatus, PriorContact, Register
from mailbox_rules.restrictions import Limit

LONDON = ZoneInfo("Europe/London")


class DecisionKind(enum.StrEnum):
    """What the service should do with a message."""

    IGNORE = "ignore"  # not customer contact under an arrangement: leave it alone
    ALLOWED = "allowed"  # contact by the permitted route: record it
    WARNING_CONTACT = "warning_contact"  # warning stage: record as evidence, no forward
    BREACH = "breach"  # a restriction was broken: record, keep evidence, forward
    REVIEW = "review"  # cannot be decided safely by machine: quarantine for a person
    EMERGENCY = "emergency"  # emergency or safeguarding words: forward at once, also to the
    # emergency route; never held by caps or hours


@dataclass  # not frozen: built for every decision, and a frozen init costs twice as much
class RuleContext:
    envelope: Envelope
    register: Register
    now: datetime
    arrangement: Arrangement | None
    zone: ZoneInfo = LONDON
    history: Sequence[PriorContact] = ()
    content: str | None = None  # subject and body text (a MessageText), once fetched
    topics: Mapping[str, Sequence[str]] = field(default_factory=dict)
    emergency_phrases: Sequence[str] = ()
    _may_be_a_customer: bool | None = field(default=None, repr=False, compare=False)

    @property
    def may_be_a_customer(self) -> bool:
        """Whether this unknown sender's mail is worth searching for a possible match."""
        if self._may_be_a_customer is None:
            self._may_be_a_customer = may_be_from_a_customer(self.envelope, self.register)
        return self._may_be_a_customer

    @property
    def local_received(self) -> datetime:
        return self.envelope.received_at.astimezone(self.zone)

    @property
    def body_sha256(self) -> str | None:
        """The SHA-256 of this message's body, when its text was read from the raw message."""
        content = self.content
        return content.body_sha256 if isinstance(content, MessageText) else None

    @property
    def earlier(self) -> list[PriorContact]:
        """The customer's earlier messages, each once, without this message itself.

        A message recorded twice (a breach for one mailbox's copy and a contact for the
        SPOC's) is one message; a different message reusing a Message-ID (another body) is
        another; a record of this very message (another copy of it, or this copy decided
        again) is not an earlier message.
        """
        message_id, body = self.envelope.message_id, self.body_sha256
        kept: list[PriorContact] = []
        for prior in self.history:
            if prior.same_message(message_id, body):
                continue
            if any(k.same_message(prior.message_id, prior.body_sha256) for k in kept):
                continue
            kept.append(prior)
        return kept

    def in_period(self, limit: Limit) -> list[PriorContact]:
        """Earlier messages in the same calendar week or month as this message."""
        start = limit.period.start(self.local_received)
        end = self.envelope.received_at
        return [
            p
            for p in self.earlier
            if start <= p.received_at.astimezone(self.zone) and p.received_at <= end
        ]

    @property
    def starts_new_issue(self) -> bool:
        """Not a reply in a known thread: new unless it answers (In-Reply-To/References) one
        of the customer's recorded messages, or has the normalised subject of one.  A bare
        "Re:" or an In-Reply-To naming a message nobody recorded is a new issue: otherwise
        anyone could evade an issue limit by writing "Re:"."""
        envelope = self.envelope
        earlier = self.earlier
        answered = set(envelope.in_reply_to + envelope.references)
        if answered and any(p.message_id in answered for p in earlier):
            return False
        key = envelope.subject_key
        return not (key and any(p.subject_key == key for p in earlier))


@dataclass(frozen=True)
class Finding:
    kind: DecisionKind
    reason: str
    candidates: tuple[str, ...] = ()  # review: the customers the message may belong to


class Rule(Protocol):
    """A named policy check."""

    name: str

    def check(self, ctx: RuleContext) -> Finding | None: ...


class AutomaticMessage:
    """Delivery reports and auto-replies are never customer contact."""

    name = "automatic-message"

    def check(self, ctx: RuleContext) -> Finding | None:
        if ctx.envelope.automatic is None:
            return None
        return Finding(DecisionKind.IGNORE, f"automatic message: {ctx.envelope.automatic}")


class UnreadableSender:
    """A message whose author cannot be read might be from a customer: a person must look."""

    name = "unreadable-sender"

    def check(self, ctx: RuleContext) -> Finding | None:
        if ctx.envelope.identities:
            return None
        problems = "; ".join(ctx.envelope.problems) or "no sender address"
        refs = sorted(
            {
                a.customer_ref
                for token in ctx.envelope.unparsed_sender_tokens
                if (a := ctx.register.arrangement_for(token)) is not None
            }
        )
        mention = f"; it mentions the address of customer {', '.join(refs)}" if refs else ""
        return Finding(
            DecisionKind.REVIEW, f"sender cannot be identified: {problems}{mention}", tuple(refs)
        )


class SeveralCustomers:
    """From and Sender naming different registered customers cannot be attributed safely."""

    name = "several-customers"

    def check(self, ctx: RuleContext) -> Finding | None:
        refs = {
            a.customer_ref
            for address in ctx.envelope.identities
            if (a := ctx.register.arrangement_for(address)) is not None
        }
        if len(refs) < 2:
            return None
        return Finding(
            DecisionKind.REVIEW,
            f"sender addresses belong to {len(refs)} different customers "
            f"({', '.join(sorted(refs))})",
            tuple(sorted(refs)),
        )


class AmbiguousSender:
    """Several From fields, or several authors in one, involving a customer: a person decides.

    Mail systems and people do not send these; forgers and broken software do, and deciding
    whose message it is by picking one of the addresses would be a guess.
    """

    name = "ambiguous-sender"

    def check(self, ctx: RuleContext) -> Finding | None:
        ambiguous = [
            p
            for p in ctx.envelope.problems
            if p in ("several From fields", "several addresses in From")
            or p == "sender fields too long or too many to read in full"
        ]
        if not ambiguous:
            return None
        refs = {ctx.arrangement.customer_ref} if ctx.arrangement else set()
        refs |= {
            a.customer_ref
            for token in ctx.envelope.unparsed_sender_tokens
            if (a := ctx.register.arrangement_for(token)) is not None
        }
        if not refs:
            return None
        return Finding(
            DecisionKind.REVIEW,
            f"{ambiguous[0]}, involving customer {', '.join(sorted(refs))}: "
            "whose message it is must be decided by a person",
            tuple(sorted(refs)),
        )


class DisplayNameLookalike:
    """A stranger whose display name is a registered customer's address: impersonation or a
    customer writing from a new address.  Never a match, never silently ignored."""

    name = "display-name-lookalike"

    def check(self, ctx: RuleContext) -> Finding | None:
        if ctx.arrangement is not None:
            return None
        refs = sorted(
            {
                a.customer_ref
                for address in ctx.envelope.display_name_addresses
                if (a := ctx.register.arrangement_for(address)) is not None
            }
        )
        if not refs:
            return None
        return Finding(
            DecisionKind.REVIEW,
            f"the sender's display name is the address of customer {', '.join(refs)}, "
            "but the message came from another address",
            tuple(refs),
        )


class PossibleMatch:
    """An unknown address whose mail names a registered customer: perhaps the customer
    writing from a new address.  A person decides (``spocbot review``); never a match."""

    name = "possible-match"

    def check(self, ctx: RuleContext) -> Finding | None:
        if ctx.arrangement is not None or not ctx.may_be_a_customer:
            return None
        index = ctx.register.possible_matches
        subject = ctx.envelope.subject
        if ctx.content is None:
            matches = index.in_subject(subject)
        else:
            matches = index.in_message(subject, body_of(ctx.content))
        if not matches:
            return None
        return Finding(
            DecisionKind.REVIEW,
            "an unknown address may be a registered customer's: "
            + "; ".join(f"{m.customer_ref} ({m.why})" for m in matches),
            tuple(m.customer_ref for m in matches),
        )


def may_be_from_a_customer(envelope: Envelope, register: Register) -> bool:
    """Whether an unknown sender's mail is worth searching for a customer's reference or name:
    not staff, not bulk mail, and there is someone to look for."""
    return (
        bool(register.possible_matches)
        and bool(envelope.identities)
        and not envelope.bulk
        and not any(register.is_staff(a) for a in envelope.identities)
    )


class UnknownSender:
    """Senders not in the register are outside the policy."""

    name = "unknown-sender"

    def check(self, ctx: RuleContext) -> Finding | None:
        if ctx.arrangement is not None:
            return None
        return Finding(DecisionKind.IGNORE, "sender has no SPOC arrangement")


class CeasedArrangement:
    """An arrangement that has ended no longer restricts anything."""

    name = "arrangement-ceased"

    def check(self, ctx: RuleContext) -> Finding | None:
        if ctx.arrangement is None or ctx.arrangement.status is not ArrangementStatus.CEASED:
            return None
        return Finding(DecisionKind.IGNORE, "the arrangement has ceased")


class LapsedArrangement:
    """An arrangement that lapses at review restricts nothing from its review date, even
    before the daily job has recorded it as ended (a review recorded since moves the date)."""

    name = "arrangement-lapsed"

    def check(self, ctx: RuleContext) -> Finding | None:
        arrangement = ctx.arrangement
        if arrangement is None or not arrangement.lapsed_by(ctx.local_received.date()):
            return None
        assert arrangement.lapses_on is not None
        return Finding(
            DecisionKind.IGNORE,
            f"the arrangement lapsed at its review date ({arrangement.lapses_on.isoformat()})",
        )


class NotYetInForce:
    """An arrangement restricts only mail received from its start date (organisation's zone)."""

    name = "arrangement-not-started"

    def check(self, ctx: RuleContext) -> Finding | None:
        if ctx.arrangement is None or ctx.local_received.date() >= ctx.arrangement.start_date:
            return None
        return Finding(
            DecisionKind.IGNORE,
            f"received before the arrangement started ({ctx.arrangement.start_date.isoformat()})",
        )


class WarningStage:
    """At the warning stage officers collect evidence of contact; nothing is restricted yet."""

    name = "warning-stage"

    def check(self, ctx: RuleContext) -> Finding | None:
        if ctx.arrangement is None or ctx.arrangement.status is not ArrangementStatus.WARNING:
            return None
        return Finding(
            DecisionKind.WARNING_CONTACT,
            f"warning stage: contact recorded (found in {ctx.envelope.found_in})",
        )


class BypassedSpoc:
    """Mail must reach only the address(es) the customer is restricted to."""

    name = "bypassed-spoc"

    def check(self, ctx: RuleContext) -> Finding | None:
        arrangement = ctx.arrangement
        if arrangement is None:
            return None
        envelope = ctx.envelope
        permitted = arrangement.restricted_to
        bypassed = []
        if envelope.found_in not in permitted:
            bypassed.append(envelope.found_in)
        for address in sorted(envelope.recipients & ctx.register.watched_mailboxes):
            if address not in permitted and address not in bypassed:
                bypassed.append(address)
        if not bypassed:
            return None
        return Finding(
            DecisionKind.BREACH,
            f"sent to {', '.join(bypassed)} instead of the permitted "
            f"{'address' if len(permitted) == 1 else 'addresses'} {', '.join(sorted(permitted))}",
        )


class ChannelNotPermitted:
    """Email itself may be a channel the customer must not use (e.g. letters only)."""

    name = "channel-not-permitted"

    def check(self, ctx: RuleContext) -> Finding | None:
        channels = ctx.arrangement.channels if ctx.arrangement else frozenset()
        if not channels or "email" in channels:
            return None
        return Finding(
            DecisionKind.BREACH,
            f"email is not a permitted channel (permitted: {', '.join(sorted(channels))})",
        )


class OutsideHours:
    """Contact only at set times (Europe/London)."""

    name = "outside-hours"

    def check(self, ctx: RuleContext) -> Finding | None:
        hours = ctx.arrangement.contact_hours if ctx.arrangement else None
        if hours is None or hours.allows(ctx.local_received):
            return None
        return Finding(
            DecisionKind.BREACH,
            f"received {ctx.local_received:%a %H:%M}, outside the permitted hours ({hours})",
        )


class OverContactLimit:
    """A limited number of contacts per calendar week or month."""

    name = "over-contact-limit"

    def check(self, ctx: RuleContext) -> Finding | None:
        limit = ctx.arrangement.max_contacts if ctx.arrangement else None
        if limit is None:
            return None
        number = len(ctx.in_period(limit)) + 1
        if number <= limit.count:
            return None
        return Finding(
            DecisionKind.BREACH,
            f"contact {number} this {limit.period.value}, over the limit of {limit}",
        )


class OverIssueLimit:
    """A limited number of new issues per period; replies in a known thread are not new."""

    name = "over-issue-limit"

    def check(self, ctx: RuleContext) -> Finding | None:
        limit = ctx.arrangement.max_issues if ctx.arrangement else None
        if limit is None or not ctx.starts_new_issue:
            return None
        number = sum(p.new_issue for p in ctx.in_period(limit)) + 1
        if number <= limit.count:
            return None
        return Finding(
            DecisionKind.BREACH,
            f"new issue {number} this {limit.period.value}, over the limit of {limit} issues",
        )


class OutsideSubject:
    """Contact only about certain subjects, recognised by the configured topic keywords."""

    name = "outside-subject"

    def check(self, ctx: RuleContext) -> Finding | None:
        permitted = ctx.arrangement.subject_matters if ctx.arrangement else frozenset()
        if not permitted or ctx.content is None:
            return None  # unrestricted, or nothing read yet to judge by
        matched = {
            topic: words
            for topic in ctx.topics
            if (words := _matched_words(ctx.content, ctx.topics[topic]))
        }
        if any(topic in matched for topic in permitted):
            return None
        mentioned = "; ".join(f"{t}: {', '.join(w)}" for t, w in sorted(matched.items()))
        return Finding(
            DecisionKind.BREACH,
            f"about none of the permitted subjects ({', '.join(sorted(permitted))})"
            + (f"; it mentions {mentioned}" if mentioned else ""),
        )


def _matched_words(text: str, keywords: Sequence[str]) -> list[str]:
    """Keywords found in ``text`` as whole words, ignoring case and how words are spaced.

    Used for subject-matter topics, which match as written (a topic keyword is chosen by the
    organisation for exactly that); emergency phrases are more tolerant: see
    :mod:`mailbox_rules.emergency`."""
    found = []
    for keyword in keywords:
        pattern = r"\s+".join(re.escape(word) for word in keyword.split())
        if re.search(rf"\b{pattern}\b", text, re.IGNORECASE):
            found.append(keyword)
    return found


def emergency_phrases_in(ctx: RuleContext) -> list[str]:
    """Emergency and safeguarding phrases in the message's subject, text and ``text/plain``
    attachments (none until it is read), each as it appeared: ``"gas is leaking" (gas leak)``.
    See :mod:`mailbox_rules.emergency` for how a phrase matches."""
    content = ctx.content
    if content is None or not ctx.emergency_phrases:
        return []
    found = find_phrases(content, ctx.emergency_phrases)
    described = [str(m) for m in found]
    attached = content.attached if isinstance(content, MessageText) else ""
    if attached:
        seen = {m.phrase for m in found}
        described += [
            f"{m} in an attachment"
            for m in find_phrases(attached, ctx.emergency_phrases)
            if m.phrase not in seen
        ]
    return described


RULES: tuple[Rule, ...] = (
    AutomaticMessage(),
    UnreadableSender(),
    SeveralCustomers(),
    AmbiguousSender(),
    DisplayNameLookalike(),
    PossibleMatch(),
    UnknownSender(),
    CeasedArrangement(),
    LapsedArrangement(),
    NotYetInForce(),
    WarningStage(),
)

IDENTITY_RULES = frozenset(
    {
        "unreadable-sender",
        "several-customers",
        "ambiguous-sender",
        "display-name-lookalike",
        "possible-match",
        "unknown-sender",
    }
)
"""The gates that decide *whose* message it is: skipped once a person has confirmed that."""

RESTRICTIONS: tuple[Rule, ...] = (
    ChannelNotPermitted(),
    BypassedSpoc(),
    OutsideHours(),
    OverContactLimit(),
    OverIssueLimit(),
    OutsideSubject(),
)
