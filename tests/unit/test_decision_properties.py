"""Properties of the decision core that must hold for every input (Hypothesis).

- Writing an address in another case, or with surrounding spaces, never changes a decision.
- Adding an unrelated arrangement (another customer, other officers) never changes a decision.
- A message with emergency words from a customer under an arrangement is never ignored and
  never held back: it is an emergency, routed to an officer.  That holds too when it looks
  automatic (bulk, an auto-reply header or subject) or its sender is ambiguous (another author
  beside the customer, two From fields, another customer as Sender).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from mailbox_rules import (
    Arrangement,
    ArrangementStatus,
    DecisionKind,
    Envelope,
    Officer,
    Register,
    decide,
    parse_envelope,
)
from mailbox_rules.restrictions import ContactHours, Limit

SPOC = Officer("Sam Spoc", "spoc@homes.example")
COVER = Officer("Chris Cover", "cover@homes.example")
INFO = "info@homes.example"
WATCHED = [INFO, SPOC.email, "staff@homes.example"]
CUSTOMER = "casey.customer@mail.example"
NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)

statuses = st.sampled_from(list(ArrangementStatus))
mailboxes = st.sampled_from(WATCHED)
received = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
)
restrictions = st.fixed_dictionaries(
    {},
    optional={
        "channels": st.sampled_from([frozenset({"letter"}), frozenset({"email", "phone"})]),
        "contact_hours": st.just(ContactHours.parse("Mon-Fri 09:00-17:00")),
        "max_contacts": st.just(Limit.parse("2/week")),
    },
)


def arrangement(status: ArrangementStatus, extra: dict[str, object]) -> Arrangement:
    return Arrangement(
        "C-1",
        "Casey",
        frozenset({CUSTOMER}),
        SPOC,
        COVER,
        frozenset({SPOC.email}),
        status,
        date(2026, 1, 1),
        date(2027, 1, 1),
        **extra,  # type: ignore[arg-type]
    )


def envelope_from(sender: str, found_in: str, at: datetime, extra: str = "") -> Envelope:
    raw = f"From: Casey <{sender}>\r\nTo: {found_in}\r\n{extra}Subject: Repairs\r\n\r\n"
    return parse_envelope(raw.encode(), found_in=found_in, received_at=at)


# What else the message's header may say: nothing, or that it is automatic, or that its
# sender is ambiguous.  None of it may hold back an emergency.
SHAPES = {
    "plain": ("", ""),
    "bulk": ("Precedence: bulk\r\n", ""),
    "auto-submitted": ("Auto-Submitted: auto-replied\r\n", ""),
    "x-autoreply": ("X-Autoreply: yes\r\n", ""),
    "null-return-path": ("Return-Path: <>\r\n", ""),
    "second-author": ("", ", partner@else.example"),
    "two-from-fields": ("From: partner@else.example\r\n", ""),
    "other-customer-as-sender": ("Sender: other@mail.example\r\n", ""),
}
OTHER = Arrangement(
    "C-2",
    "Other",
    frozenset({"other@mail.example"}),
    Officer("Olly", "olly@homes.example"),
    None,
    frozenset({"olly@homes.example"}),
    ArrangementStatus.ACTIVE,
    date(2026, 1, 1),
    date(2027, 1, 1),
)


@st.composite
def case_variants(draw: st.DrawFn) -> str:
    """The customer's address with each letter's case chosen at random."""
    return "".join(c.upper() if draw(st.booleans()) else c for c in CUSTOMER)


@settings(max_examples=200, deadline=None)
@given(statuses, restrictions, mailboxes, received, case_variants(), st.sampled_from(["", " "]))
def test_address_case_and_spacing_never_change_a_decision(
    status: ArrangementStatus,
    extra: dict[str, object],
    found_in: str,
    at: datetime,
    variant: str,
    pad: str,
) -> None:
    register = Register.build([arrangement(status, extra)], watched_mailboxes=WATCHED)

    plain = decide(envelope_from(CUSTOMER, found_in, at), register, NOW)
    varied = decide(envelope_from(f"{pad}{variant}{pad}", found_in, at), register, NOW)

    assert (plain.kind, plain.rules, plain.route_to) == (varied.kind, varied.rules, varied.route_to)


@settings(max_examples=200, deadline=None)
@given(statuses, restrictions, mailboxes, received, statuses)
def test_an_unrelated_arrangement_never_changes_a_decision(
    status: ArrangementStatus,
    extra: dict[str, object],
    found_in: str,
    at: datetime,
    other_status: ArrangementStatus,
) -> None:
    mine = arrangement(status, extra)
    other = Arrangement(
        "C-2",
        "Other",
        frozenset({"other@mail.example"}),
        Officer("Olly", "olly@homes.example"),
        None,
        frozenset({"olly@homes.example"}),
        other_status,
        date(2026, 1, 1),
        date(2027, 1, 1),
    )
    alone = Register.build([mine], watched_mailboxes=WATCHED)
    together = Register.build([mine, other], watched_mailboxes=WATCHED)
    env = envelope_from(CUSTOMER, found_in, at)

    assert decide(env, alone, NOW) == decide(env, together, NOW)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([ArrangementStatus.ACTIVE, ArrangementStatus.CEASE_AND_DESIST]),
    restrictions,
    mailboxes,
    received,
    st.integers(min_value=0, max_value=20),
    st.booleans(),
    st.sampled_from(sorted(SHAPES)),
)
def test_an_emergency_from_a_customer_is_never_ignored_or_held(
    status: ArrangementStatus,
    extra: dict[str, object],
    found_in: str,
    at: datetime,
    earlier: int,
    spoc_away: bool,
    shape: str,
) -> None:
    from mailbox_rules import Absence, PriorContact

    headers, more_authors = SHAPES[shape]
    absences = [Absence(SPOC.email, date(2026, 1, 1), date(2027, 1, 1))] if spoc_away else []
    register = Register.build(
        [arrangement(status, extra), OTHER], absences, watched_mailboxes=WATCHED
    )
    history = [
        PriorContact(at - timedelta(hours=n + 1), f"<p{n}@x>", "older", True)
        for n in range(earlier)
    ]
    if more_authors:
        raw = f"From: {CUSTOMER}{more_authors}\r\nTo: {found_in}\r\n\r\n"
        envelope = parse_envelope(raw.encode(), found_in=found_in, received_at=at)
    else:
        envelope = envelope_from(CUSTOMER, found_in, at, headers)

    first_look = decide(envelope, register, NOW, history=history, emergency_phrases=["flood"])
    decision = decide(
        envelope,
        register,
        NOW,
        history=history,
        content="Help, there is water pouring through the ceiling",
        emergency_phrases=["water pouring"],
    )

    assert first_look.kind is DecisionKind.EMERGENCY or first_look.needs_content
    assert DecisionKind.EMERGENCY == decision.kind
    assert decision.route_to in (SPOC, COVER)
    assert "C-1" == decision.customer_ref
