"""Possible matches: an unknown address whose mail gives a customer's reference or ends with
their full name goes to review — and ordinary mail from strangers and staff does not."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mailbox_rules import ArrangementStatus, DecisionKind, Envelope, Register, decide
from mailbox_rules.possible_match import PossibleMatchIndex, closing_lines, searchable_ref
from tests.unit.test_decisions import (
    AMELIA,
    ARRANGEMENTS,
    DMO,
    HOUSING,
    NOW,
    STRANGER,
    WATCHED,
)

SIGNED = "Hello,\n\nThe fan is broken again.\n\nRegards,\nMargaret Ellis\n14 Birch Court\n"


def register(**options: object) -> Register:
    return Register.build(
        ARRANGEMENTS, (), WATCHED, staff_domains=["northvale-homes.example"], **options
    )


def envelope(sender: str = STRANGER, subject: str = "Kitchen fan", **fields: object) -> Envelope:
    return Envelope(
        found_in=HOUSING,
        folder="INBOX",
        message_id="<m@x>",
        received_at=NOW,
        from_addresses=(sender,),
        to=(HOUSING,),
        subject=subject,
        **fields,  # type: ignore[arg-type]
    )


def run(body: str | None, reg: Register | None = None, **fields: object) -> tuple[str, ...]:
    """(kind, rules..., candidates...) of the decision for a stranger's message with ``body``."""
    env = envelope(**fields)  # type: ignore[arg-type]
    content = None if body is None else f"{env.subject}\n{body}"
    decision = decide(env, reg or register(), NOW, dmo=DMO, content=content)
    return (decision.kind.value, *decision.rules, *decision.candidates)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (SIGNED, ("review", "possible-match", "NV-1001")),
        ("My ref is NV-1002, please call.", ("review", "possible-match", "NV-1002")),
        ("my ref is nv-1002.", ("review", "possible-match", "NV-1002")),  # any case
        ("Ref NV-10021 and XNV-1002 are others.", ("ignore", "unknown-sender")),
        ("Ref NV-1002-7 is another.", ("ignore", "unknown-sender")),
        ("Thanks,\nMARGARET   ELLIS", ("review", "possible-match", "NV-1001")),
        ("Kind regards, Tom Fraser", ("review", "possible-match", "NV-1002")),
        (
            "Tom and Margaret Ellis are neighbours of mine.\n" + "more\n" * 10 + "Olivia",
            ("ignore", "unknown-sender"),
        ),  # the name is not in the closing lines
        (
            "Please reply.\n\nOn Mon, 9 Nov 2026, Housing wrote:\n> Dear Margaret Ellis",
            ("ignore", "unknown-sender"),
        ),  # only in the quoted message
        (
            "Thanks\n-----Original Message-----\nFrom: Tom Fraser",
            ("ignore", "unknown-sender"),
        ),  # Outlook's quoted message
        ("Regards,\nGareth Lewis", ("ignore", "unknown-sender")),  # ceased: nobody to look for
        ("Regards,\nOlivia Bennett", ("ignore", "unknown-sender")),
    ],
)
def test_unknown_senders_text_is_searched_for_a_customers_ref_or_name(
    body: str, expected: tuple[str, ...]
) -> None:
    assert expected == run(body)


def test_ref_in_the_subject_is_found_from_the_headers_alone() -> None:
    assert ("review", "possible-match", "NV-1002") == run(None, subject="Re: NV-1002 noise")


def test_unknown_sender_needs_its_text_read_and_nothing_kept() -> None:
    decision = decide(envelope(), register(), NOW, dmo=DMO)

    assert (DecisionKind.IGNORE, True, False) == (
        decision.kind,
        decision.needs_content,
        decision.needs_raw_message,
    )


@pytest.mark.parametrize(
    "env",
    [
        envelope(sender="dev.patel@northvale-homes.example"),  # staff domain
        envelope(sender=AMELIA.email.upper()),  # an officer
        envelope(bulk=True),  # a newsletter or list
    ],
    ids=["staff-domain", "officer", "bulk"],
)
def test_staff_and_bulk_mail_is_never_read_for_possible_matches(env: Envelope) -> None:
    decision = decide(env, register(), NOW, dmo=DMO, content=f"NV-1001\n{SIGNED}")

    assert (DecisionKind.IGNORE, False) == (decision.kind, decision.needs_content)


def test_possible_matches_can_be_switched_off() -> None:
    reg = register(find_possible_matches=False)

    assert ("ignore", "unknown-sender") == run(SIGNED, reg)
    assert not decide(envelope(), reg, NOW, dmo=DMO).needs_content


def test_several_candidates_are_all_offered() -> None:
    assert ("review", "possible-match", "NV-1002", "NV-1001") == run(
        "About NV-1002.\nRegards,\nMargaret Ellis"
    )


def test_confirmed_customer_is_decided_as_theirs_whatever_the_sender() -> None:
    decision = decide(envelope(), register(), NOW, dmo=DMO, confirmed_customer="NV-1001")

    assert (DecisionKind.BREACH, ("bypassed-spoc",), "NV-1001", AMELIA) == (
        decision.kind,
        decision.rules,
        decision.customer_ref,
        decision.route_to,
    )


def test_confirmed_customer_still_respects_the_arrangements_stage() -> None:
    arrangements = tuple(
        replace(a, status=ArrangementStatus.CEASED) if a.customer_ref == "NV-1001" else a
        for a in ARRANGEMENTS
    )
    reg = Register.build(arrangements, (), WATCHED)

    decision = decide(envelope(), reg, NOW, dmo=DMO, confirmed_customer="NV-1001")

    assert ("ignore", ("arrangement-ceased",)) == (decision.kind.value, decision.rules)


def test_confirming_an_unknown_customer_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="NV-9999"):
        decide(envelope(), register(), NOW, dmo=DMO, confirmed_customer="NV-9999")


@pytest.mark.parametrize(
    ("ref", "searched"),
    [
        ("NV-1001", True),
        ("C1234", True),
        ("123456", True),
        ("1001", False),  # a few digits turn up in dates, amounts and phone numbers
        ("A1", False),
        ("ABCD", False),  # no digit: an ordinary word
        ("NV 1001", False),  # not one word
    ],
)
def test_only_distinctive_references_are_searched_for(ref: str, searched: bool) -> None:
    assert searched == searchable_ref(ref)


def test_single_word_names_are_not_searched_for() -> None:
    index = PossibleMatchIndex([("NV-1", "Cher")])

    assert [] == index.in_message("", "Thanks,\nCher")


def test_closing_lines_are_the_last_lines_the_sender_wrote() -> None:
    body = "one\n\ntwo\n" + "\n".join(f"line {i}" for i in range(10)) + "\n> quoted\n"

    assert [f"line {i}" for i in range(2, 10)] == closing_lines(body)
