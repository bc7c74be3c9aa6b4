"""The decision: what to do with one message found in one watched mailbox, and why.

:func:`decide` runs the rules in :mod:`mailbox_rules.rules` and then works out the route —
the SPOC, or the cover officer while the SPOC is absent, or the DMO when neither can act.
Outcomes are data: the service turns a :class:`Decision` into records and forwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from mailbox_rules.envelope import Envelope
from mailbox_rules.register import Arrangement, Officer, Register
from mailbox_rules.rules import RULES, DecisionKind, Finding, Rule, RuleContext

LONDON = ZoneInfo("Europe/London")

__all__ = ["Decision", "DecisionKind", "decide"]


@dataclass(frozen=True)
class Decision:
    """The outcome for one sighting of a message."""

    kind: DecisionKind
    rules: tuple[str, ...]
    reasons: tuple[str, ...]
    customer_ref: str | None = None
    route_to: Officer | None = None
    route_reason: str = ""

    @property
    def forwards(self) -> bool:
        return self.route_to is not None

    @property
    def needs_raw_message(self) -> bool:
        """Whether the service must fetch the whole message (evidence, forward or quarantine)."""
        return self.kind in (DecisionKind.BREACH, DecisionKind.REVIEW) or self.forwards


def decide(
    envelope: Envelope,
    register: Register,
    now: datetime,
    *,
    rules: tuple[Rule, ...] = RULES,
    dmo: Officer | None = None,
    zone: ZoneInfo = LONDON,
) -> Decision:
    """Decide what to do with ``envelope`` under ``register`` at time ``now`` (UTC-aware).

    Absences are calendar dates in ``zone`` (the organisation's time zone).
    """
    arrangement = _arrangement(envelope, register)
    ctx = RuleContext(envelope=envelope, register=register, now=now, arrangement=arrangement)
    fired: list[str] = []
    finding: Finding | None = None
    for rule in rules:
        finding = rule.check(ctx)
        if finding is not None:
            fired.append(rule.name)
            break
    if finding is None:  # the rule list always ends with a catch-all; be explicit anyway
        return Decision(DecisionKind.IGNORE, (), ("no rule applied",))
    customer_ref = arrangement.customer_ref if arrangement else None
    if finding.kind is DecisionKind.REVIEW:
        # Whose message it is, is exactly what a person must decide: attribute it to nobody.
        return Decision(finding.kind, tuple(fired), (finding.reason,))
    if finding.kind in (DecisionKind.IGNORE, DecisionKind.WARNING_CONTACT):
        return Decision(finding.kind, tuple(fired), (finding.reason,), customer_ref)
    assert arrangement is not None  # ALLOWED and BREACH come only from arrangement rules
    today = now.astimezone(zone).date()
    route_to, route_reason = _route(arrangement, register, today, dmo)
    if finding.kind is DecisionKind.ALLOWED and (
        route_to == arrangement.spoc or not _reached_spoc(envelope, arrangement)
    ):
        # Allowed mail is already with whoever the customer may write to.  Only mail that
        # reached the SPOC while they are away is passed on, so that it is not left unread.
        route_to, route_reason = None, ""
    return Decision(
        finding.kind, tuple(fired), (finding.reason,), customer_ref, route_to, route_reason
    )


def _arrangement(envelope: Envelope, register: Register) -> Arrangement | None:
    for address in envelope.identities:
        arrangement = register.arrangement_for(address)
        if arrangement is not None:
            return arrangement
    return None


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
