"""Every restriction an arrangement can carry, as a table of cases, plus their parsers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from mailbox_rules import (
    Arrangement,
    ArrangementStatus,
    DecisionKind,
    Envelope,
    Officer,
    Register,
    decide,
)
from mailbox_rules.content import MessageText
from mailbox_rules.register import PriorContact
from mailbox_rules.restrictions import ContactHours, Limit, Period, parse_channels, parse_topics

SPOC = Officer("Sam Spoc", "spoc@homes.example")
INFO = "info@homes.example"
CUSTOMER = "casey@mail.example"
ADVOCATE = "advocate@help.example"
# Thursday 3 December 2026, 10:00 in London (GMT).
THURSDAY_10AM = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
TOPICS = {
    "repairs": ["repair", "leak", "damp"],
    "rent": ["rent", "arrears"],
    "noise": ["noise", "loud"],
}
BASE = Arrangement(
    "C-1",
    "Casey",
    frozenset({CUSTOMER}),
    SPOC,
    None,
    frozenset({SPOC.email}),
    ArrangementStatus.ACTIVE,
    date(2026, 1, 1),
    date(2027, 1, 1),
    representative_emails=frozenset({ADVOCATE}),
)


def envelope(
    *,
    sender: str = CUSTOMER,
    found_in: str = SPOC.email,
    at: datetime = THURSDAY_10AM,
    subject: str = "A question",
    in_reply_to: tuple[str, ...] = (),
    references: tuple[str, ...] = (),
    message_id: str = "<new@x>",
) -> Envelope:
    return Envelope(
        found_in=found_in,
        folder="INBOX",
        message_id=message_id,
        received_at=at,
        from_addresses=(sender,),
        to=(found_in,),
        subject=subject,
        in_reply_to=in_reply_to,
        references=references,
    )


def prior(
    days_ago: float,
    *,
    subject: str = "older",
    new_issue: bool = True,
    n: int = 0,
    message_id: str | None = None,
    body: str | None = None,
) -> PriorContact:
    return PriorContact(
        THURSDAY_10AM - timedelta(days=days_ago),
        message_id or f"<p{n}-{days_ago}@x>",
        subject,
        new_issue,
        body,
    )


def text(body_sha256: str | None) -> MessageText:
    """Content read from a raw message whose body has this digest."""
    return MessageText("A question\nSome text", body_sha256=body_sha256)


def run(
    arrangement: Arrangement,
    env: Envelope,
    history: tuple[PriorContact, ...] = (),
    content: str | None = None,
) -> tuple[DecisionKind, tuple[str, ...]]:
    register = Register.build([arrangement], watched_mailboxes=[INFO, SPOC.email])
    decision = decide(env, register, THURSDAY_10AM, history=history, content=content, topics=TOPICS)
    return decision.kind, decision.rules


CASES = {
    "no restrictions: permitted": (
        BASE,
        envelope(),
        (),
        None,
        (DecisionKind.ALLOWED, ("permitted-route",)),
    ),
    "representative counts as the customer": (
        BASE,
        envelope(sender=ADVOCATE, found_in=INFO),
        (),
        None,
        (DecisionKind.BREACH, ("bypassed-spoc",)),
    ),
    "letters only: email is a channel breach": (
        replace(BASE, channels=frozenset({"letter"})),
        envelope(),
        (),
        None,
        (DecisionKind.BREACH, ("channel-not-permitted",)),
    ),
    "email among channels: fine": (
        replace(BASE, channels=frozenset({"email", "phone"})),
        envelope(),
        (),
        None,
        (DecisionKind.ALLOWED, ("permitted-route",)),
    ),
    "inside hours": (
        replace(BASE, contact_hours=ContactHours.parse("Mon-Fri 09:00-17:00")),
        envelope(),
        (),
        None,
        (DecisionKind.ALLOWED, ("permitted-route",)),
    ),
    "outside hours (Saturday)": (
        replace(BASE, contact_hours=ContactHours.parse("Mon-Fri 09:00-17:00")),
        envelope(at=THURSDAY_10AM + timedelta(days=2)),
        (),
        None,
        (DecisionKind.BREACH, ("outside-hours",)),
    ),
    "outside hours uses London time in summer": (
        replace(BASE, contact_hours=ContactHours.parse("Mon-Fri 09:00-17:00")),
        envelope(at=datetime(2026, 7, 2, 16, 30, tzinfo=UTC)),
        (),
        None,  # 17:30 BST
        (DecisionKind.BREACH, ("outside-hours",)),
    ),
    "third contact of 3/week: fine": (
        replace(BASE, max_contacts=Limit.parse("3/week")),
        envelope(),
        (prior(1), prior(2)),
        None,
        (DecisionKind.ALLOWED, ("permitted-route",)),
    ),
    "fourth contact of 3/week: breach": (
        replace(BASE, max_contacts=Limit.parse("3/week")),
        envelope(),
        (prior(1), prior(2), prior(3)),
        None,
        (DecisionKind.BREACH, ("over-contact-limit",)),
    ),
    "last week's contacts do not count (week starts Monday)": (
        replace(BASE, max_contacts=Limit.parse("1/week")),
        envelope(),
        (prior(4),),
        None,
        (DecisionKind.ALLOWED, ("permitted-route",)),
    ),
    "second new issue of 1/month: breach": (
        replace(BASE, max_issues=Limit.parse("1/month")),
        envelope(subject="Noise again"),
        (prior(1, subject="damp"),),
        None,
        (DecisionKind.BREACH, ("over-issue-limit",)),
    ),
    "reply in a known thread is not a new issue": (
        replace(BASE, max_issues=Limit.parse("1/month")),
        envelope(subject="Re: Damp", in_reply_to=("<p0-1@x>",)),
        (prior(1, subject="damp"),),
        None,
        (DecisionKind.ALLOWED, ("permitted-route",)),
    ),
    "same subject is the same thread": (
        replace(BASE, max_issues=Limit.parse("1/month")),
        envelope(subject="FW: damp"),
        (prior(1, subject="damp"),),
        None,
        (DecisionKind.ALLOWED, ("permitted-route",)),
    ),
    "one message recorded as a breach and a contact counts once": (
        replace(BASE, max_contacts=Limit.parse("2/week")),
        envelope(),
        (prior(1, message_id="<m1@x>", body="b1"), prior(1, message_id="<m1@x>", body="b1")),
        text("b2"),
        (DecisionKind.ALLOWED, ("permitted-route",)),
    ),
    "one message recorded twice, its body unread, counts once": (
        replace(BASE, max_contacts=Limit.parse("2/week")),
        envelope(),
        (prior(1, message_id="<m1@x>"), prior(1, message_id="<m1@x>", body="b1")),
        None,
        (DecisionKind.ALLOWED, ("permitted-route",)),
    ),
    "two messages in one week of 2/week: the third is a breach": (
        replace(BASE, max_contacts=Limit.parse("2/week")),
        envelope(),
        (prior(1, message_id="<m1@x>", body="b1"), prior(1, message_id="<m2@x>", body="b2")),
        text("b3"),
        (DecisionKind.BREACH, ("over-contact-limit",)),
    ),
    "a different message reusing this Message-ID counts": (
        replace(BASE, max_contacts=Limit.parse("1/week")),
        envelope(message_id="<new@x>"),
        (prior(1, message_id="<new@x>", body="b1"),),
        text("b2"),
        (DecisionKind.BREACH, ("over-contact-limit",)),
    ),
    "two different messages reusing a Message-ID count twice": (
        replace(BASE, max_contacts=Limit.parse("2/week")),
        envelope(message_id="<other@x>"),
        (prior(2, message_id="<new@x>", body="b1"), prior(1, message_id="<new@x>", body="b2")),
        text("b3"),
        (DecisionKind.BREACH, ("over-contact-limit",)),
    ),
    "another copy of this very message is not an earlier contact": (
        replace(BASE, max_contacts=Limit.parse("1/week")),
        envelope(message_id="<new@x>"),
        (prior(0, message_id="<new@x>", body="b1"),),
        text("b1"),
        (DecisionKind.ALLOWED, ("permitted-route",)),
    ),
    "a bare Re: is a new issue": (
        replace(BASE, max_issues=Limit.parse("1/month")),
        envelope(subject="Re: Noise again"),
        (prior(1, subject="damp"),),
        None,
        (DecisionKind.BREACH, ("over-issue-limit",)),
    ),
    "a reply to a message nobody recorded is a new issue": (
        replace(BASE, max_issues=Limit.parse("1/month")),
        envelope(subject="Noise again", in_reply_to=("<officer-letter@homes.example>",)),
        (prior(1, subject="damp"),),
        None,
        (DecisionKind.BREACH, ("over-issue-limit",)),
    ),
    "References naming a known message is not a new issue": (
        replace(BASE, max_issues=Limit.parse("1/month")),
        envelope(subject="Something else", references=("<a@x>", "<p0-1@x>")),
        (prior(1, subject="damp"),),
        None,
        (DecisionKind.ALLOWED, ("permitted-route",)),
    ),
    "another copy of a new issue is still a new issue": (
        replace(BASE, max_issues=Limit.parse("1/month")),
        envelope(subject="Noise again", message_id="<new@x>"),
        (
            prior(2, subject="damp"),
            prior(0, subject="noise again", message_id="<new@x>", body="b1"),
        ),
        text("b1"),
        (DecisionKind.BREACH, ("over-issue-limit",)),
    ),
    "about a permitted subject": (
        replace(BASE, subject_matters=frozenset({"repairs"})),
        envelope(),
        (),
        "The kitchen tap has a leak",
        (DecisionKind.ALLOWED, ("permitted-route",)),
    ),
    "about another subject": (
        replace(BASE, subject_matters=frozenset({"repairs"})),
        envelope(),
        (),
        "The neighbours are so loud",
        (DecisionKind.BREACH, ("outside-subject",)),
    ),
    "several restrictions broken at once are all reported": (
        replace(
            BASE,
            channels=frozenset({"letter"}),
            contact_hours=ContactHours.parse("Mon-Fri 09:00-17:00"),
        ),
        envelope(found_in=INFO, at=THURSDAY_10AM + timedelta(days=2)),
        (),
        None,
        (DecisionKind.BREACH, ("channel-not-permitted", "bypassed-spoc", "outside-hours")),
    ),
}


@pytest.mark.parametrize(
    ("arrangement", "env", "history", "content", "expected"), CASES.values(), ids=CASES.keys()
)
def test_restriction_table(
    arrangement: Arrangement,
    env: Envelope,
    history: tuple[PriorContact, ...],
    content: str | None,
    expected: tuple[DecisionKind, tuple[str, ...]],
) -> None:
    assert expected == run(arrangement, env, history, content)


def test_subject_reason_names_the_words_it_matched() -> None:
    register = Register.build([replace(BASE, subject_matters=frozenset({"repairs"}))])
    decision = decide(
        envelope(), register, THURSDAY_10AM, content="Loud noise all night", topics=TOPICS
    )

    assert ("about none of the permitted subjects (repairs); it mentions noise: noise, loud",) == (
        decision.reasons
    )


def test_subject_restriction_asks_for_the_text_when_deciding_from_headers() -> None:
    register = Register.build([replace(BASE, subject_matters=frozenset({"repairs"}))])

    decision = decide(envelope(), register, THURSDAY_10AM, topics=TOPICS)

    assert (True, True) == (decision.needs_content, decision.needs_raw_message)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Mon-Fri 9-5", "is not like 'Mon-Fri 09:00-17:00'"),
        ("Mon-Fry 09:00-17:00", "days are Mon"),
        ("Mon 17:00-09:00", "the end time must be after the start time"),
    ],
)
def test_bad_contact_hours_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ContactHours.parse(text)


def test_parsers_round_trip_and_refuse_nonsense() -> None:
    assert ("3/week", Period.MONTH) == (
        str(Limit.parse(" 3 / Week ")),
        Limit.parse("2/month").period,
    )
    assert frozenset({"email", "letter"}) == parse_channels("Email; letter")
    assert frozenset({"rent"}) == parse_topics("Rent", TOPICS)
    for bad in ("0/week", "3/year", "three/week"):
        with pytest.raises(ValueError):
            Limit.parse(bad)
    with pytest.raises(ValueError, match="unknown channel"):
        parse_channels("fax")
    with pytest.raises(ValueError, match="unknown topic"):
        parse_topics("gardening", TOPICS)


def test_emergency_words_make_an_emergency_routed_to_spoc_and_emergency_route() -> None:
    route = Officer("Contact centre", "emergencies@homes.example")
    register = Register.build([replace(BASE, max_contacts=Limit.parse("1/week"))])

    decision = decide(
        envelope(),
        register,
        THURSDAY_10AM,
        history=(prior(1),),
        content="There is a strong smell of gas in the hallway",
        emergency_phrases=["smell of gas", "flood"],
        emergency_route=route,
    )

    assert (DecisionKind.EMERGENCY, ("emergency", "over-contact-limit"), SPOC, route) == (
        decision.kind,
        decision.rules,
        decision.route_to,
        decision.emergency_route,
    )
    assert 'emergency or safeguarding words: "smell of gas"' == decision.reasons[0]
    assert decision.breached  # the cap was still broken, and is still recorded


def test_emergency_by_the_permitted_route_is_not_a_breach_but_still_forwarded() -> None:
    decision = decide(
        envelope(),
        Register.build([BASE]),
        THURSDAY_10AM,
        content="Water pouring through ceiling",
        emergency_phrases=["water pouring"],
    )

    assert (DecisionKind.EMERGENCY, False, SPOC) == (
        decision.kind,
        decision.breached,
        decision.route_to,
    )


def test_without_the_text_an_emergency_cannot_be_seen_so_the_text_is_asked_for() -> None:
    decision = decide(
        envelope(), Register.build([BASE]), THURSDAY_10AM, emergency_phrases=["flood"]
    )

    assert (DecisionKind.ALLOWED, True) == (decision.kind, decision.needs_content)


NEW_ISSUE = {
    "a first message": (envelope(subject="Damp"), (), True),
    "a bare Re: with no history": (envelope(subject="Re: Damp"), (), True),
    "In-Reply-To an unknown message": (
        envelope(subject="Re: Damp", in_reply_to=("<unknown@x>",)),
        (prior(1, subject="boiler"),),
        True,
    ),
    "In-Reply-To a recorded message": (
        envelope(subject="Re: Something", in_reply_to=("<p0-1@x>",)),
        (prior(1, subject="boiler"),),
        False,
    ),
    "the subject of an earlier contact": (
        envelope(subject="RE: FW: [Ticket 4] Boiler"),
        (prior(1, subject="boiler"),),
        False,
    ),
}


@pytest.mark.parametrize(("env", "history", "expected"), NEW_ISSUE.values(), ids=NEW_ISSUE.keys())
def test_new_issue_flag_needs_a_known_thread(
    env: Envelope, history: tuple[PriorContact, ...], expected: bool
) -> None:
    """The "new issue — please screen" flag (cease and desist, over a limit) is not evaded by
    writing "Re:" or adding an In-Reply-To."""
    register = Register.build([replace(BASE, status=ArrangementStatus.CEASE_AND_DESIST)])

    assert expected == decide(env, register, THURSDAY_10AM, history=history).new_issue
