"""The policy rules, one small named component each (modelled on Mailman 3's sender rules).

A rule looks at a :class:`RuleContext` and either does not apply (returns ``None``) or
returns a :class:`Finding`: the decision kind it calls for and a plain-English reason.
:func:`mailbox_rules.decision.decide` runs :data:`RULES` in order and stops at the first
finding, so the order below *is* the policy's precedence.  Routing (who gets a forward) is an
action, kept apart in :mod:`mailbox_rules.decision`.

Reasons are shown to SPOC officers in cover notes and to the DMO in listings, so they say what
happened to the message and never why the arrangement exists.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from mailbox_rules.envelope import Envelope
from mailbox_rules.register import Arrangement, ArrangementStatus, Register


class DecisionKind(enum.StrEnum):
    """What the service should do with a message."""

    IGNORE = "ignore"  # not customer contact under an arrangement: leave it alone
    ALLOWED = "allowed"  # contact by the permitted route: record it
    WARNING_CONTACT = "warning_contact"  # warning stage: record as evidence, no forward
    BREACH = "breach"  # a restriction was broken: record, keep evidence, forward
    REVIEW = "review"  # cannot be decided safely by machine: quarantine for a person


@dataclass(frozen=True)
class RuleContext:
    envelope: Envelope
    register: Register
    now: datetime
    arrangement: Arrangement | None


@dataclass(frozen=True)
class Finding:
    kind: DecisionKind
    reason: str


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
        return Finding(DecisionKind.REVIEW, f"sender cannot be identified: {problems}{mention}")


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
        ]
        if not ambiguous or ctx.arrangement is None:
            return None
        return Finding(
            DecisionKind.REVIEW,
            f"{ambiguous[0]}, one of them customer {ctx.arrangement.customer_ref}'s: "
            "whose message it is must be decided by a person",
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


class PermittedRoute:
    """Everything else from a customer under an arrangement came by the permitted route."""

    name = "permitted-route"

    def check(self, ctx: RuleContext) -> Finding | None:
        if ctx.arrangement is None:
            return None
        return Finding(
            DecisionKind.ALLOWED, f"sent by the permitted route ({ctx.envelope.found_in})"
        )


RULES: tuple[Rule, ...] = (
    AutomaticMessage(),
    UnreadableSender(),
    SeveralCustomers(),
    AmbiguousSender(),
    UnknownSender(),
    CeasedArrangement(),
    WarningStage(),
    BypassedSpoc(),
    PermittedRoute(),
)
