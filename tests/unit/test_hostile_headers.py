"""Headers built to break or stall the parser, and senders that must go to a person.

These come from an adversarial review: each once raised, stalled a pass for a minute, or let
a customer's message be attributed wrongly.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

from mailbox_rules import (
    Arrangement,
    ArrangementStatus,
    DecisionKind,
    Officer,
    Register,
    decide,
    parse_envelope,
)
from mailbox_rules.envelope import is_addr_spec, normalise_address

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)
INFO = "info@homes.example"
CUSTOMER = "casey@mail.example"
REGISTER = Register.build(
    [
        Arrangement(
            "C-1",
            "Casey",
            frozenset({CUSTOMER}),
            Officer("Sam", "spoc@homes.example"),
            None,
            frozenset({"spoc@homes.example"}),
            ArrangementStatus.ACTIVE,
            date(2026, 1, 1),
            date(2027, 1, 1),
        )
    ],
    watched_mailboxes=[INFO, "spoc@homes.example"],
)


def decide_headers(raw: bytes) -> tuple[DecisionKind, tuple[str, ...], str]:
    envelope = parse_envelope(raw, found_in=INFO, received_at=NOW)
    decision = decide(envelope, REGISTER, NOW)
    return decision.kind, decision.rules, decision.reasons[0]


def test_encoded_newline_in_display_name_goes_to_review_naming_the_customer() -> None:
    raw = f"From: =?utf-8?q?John=0A?= <{CUSTOMER}>\r\nTo: {INFO}\r\n\r\n".encode()

    kind, rules, reason = decide_headers(raw)

    assert (DecisionKind.REVIEW, ("unreadable-sender",)) == (kind, rules)
    assert reason.endswith("it mentions the address of customer C-1")


def test_deeply_nested_comments_do_not_raise() -> None:
    raw = b"From: " + b"(" * 50_000 + b"\r\nTo: " + INFO.encode() + b"\r\n\r\n"

    kind, _, _ = decide_headers(raw)

    assert DecisionKind.REVIEW == kind


def test_huge_encoded_headers_are_capped_and_fast() -> None:
    words = " ".join(["=?utf-8?q?a?="] * 40_000)
    raw = (
        f"From: {words} <stranger@else.example>\r\nSubject: {words}\r\n"
        + "".join(f"To: {'x@y.example, ' * 8000}{INFO}\r\n" for _ in range(20))
        + "\r\n"
    ).encode()

    started = time.perf_counter()
    envelope = parse_envelope(raw, found_in=INFO, received_at=NOW)
    elapsed = time.perf_counter() - started

    assert elapsed < 5, f"parsing took {elapsed:.1f} s"  # was over a minute before the cap
    assert any("over 8192 bytes" in p for p in envelope.problems)


def test_customer_in_second_from_field_goes_to_review_not_breach() -> None:
    raw = f"From: stranger@else.example\r\nFrom: {CUSTOMER}\r\nTo: {INFO}\r\n\r\n".encode()

    kind, rules, _ = decide_headers(raw)

    assert (DecisionKind.REVIEW, ("ambiguous-sender",)) == (kind, rules)


def test_customer_among_several_from_addresses_goes_to_review() -> None:
    raw = f"From: stranger@else.example, {CUSTOMER}\r\nTo: {INFO}\r\n\r\n".encode()

    assert (DecisionKind.REVIEW, ("ambiguous-sender",)) == decide_headers(raw)[:2]


def test_several_from_addresses_of_strangers_are_simply_ignored() -> None:
    raw = f"From: a@else.example, b@else.example\r\nTo: {INFO}\r\n\r\n".encode()

    assert (DecisionKind.IGNORE, ("unknown-sender",)) == decide_headers(raw)[:2]


def test_invisible_characters_make_an_address_invalid() -> None:
    assert (True, False, False) == (
        is_addr_spec("casey@mail.example"),
        is_addr_spec("casey\u200b@mail.example"),
        is_addr_spec("casey\x00@mail.example"),
    )


def test_internationalised_domain_matches_in_either_form() -> None:
    register = Register.build(
        [
            Arrangement(
                "C-2",
                "Björn",
                frozenset({normalise_address("bjorn@bücher.example")}),
                Officer("Sam", "spoc@homes.example"),
                None,
                frozenset({"spoc@homes.example"}),
                ArrangementStatus.ACTIVE,
                date(2026, 1, 1),
                date(2027, 1, 1),
            )
        ],
        watched_mailboxes=[INFO],
    )
    for sender in ("bjorn@xn--bcher-kva.example", "Björn <Bjorn@Bücher.Example>"):
        raw = f"From: {sender}\r\nTo: {INFO}\r\n\r\n".encode()
        envelope = parse_envelope(raw, found_in=INFO, received_at=NOW)

        assert ("C-2", DecisionKind.BREACH) == (
            decide(envelope, register, NOW).customer_ref,
            decide(envelope, register, NOW).kind,
        )


def test_subaddress_is_stripped_only_for_configured_domains() -> None:
    register = Register.build(
        REGISTER.arrangements,
        watched_mailboxes=REGISTER.watched_mailboxes,
        strip_subaddress_domains=["mail.example"],
    )

    assert (REGISTER.arrangements[0], None) == (
        register.arrangement_for("casey+housing@mail.example"),
        REGISTER.arrangement_for("casey+housing@mail.example"),
    )


def test_customer_hidden_in_eleventh_from_field_goes_to_review() -> None:
    strangers = "".join(f"From: p{i}@else.example\r\n" for i in range(10))
    raw = f"{strangers}From: {CUSTOMER}\r\nTo: {INFO}\r\n\r\n".encode()

    assert (DecisionKind.REVIEW, ("ambiguous-sender",)) == decide_headers(raw)[:2]


def test_customer_after_a_kilobyte_of_from_addresses_goes_to_review() -> None:
    padding = ", ".join(f"p{i}@else.example" for i in range(80))
    raw = f"From: {padding}, {CUSTOMER}\r\nTo: {INFO}\r\n\r\n".encode()

    kind, rules, reason = decide_headers(raw)

    assert (DecisionKind.REVIEW, ("ambiguous-sender",)) == (kind, rules)
    assert "involving customer C-1" in reason


def test_space_before_colon_still_names_the_from_field() -> None:
    raw = f"From : {CUSTOMER}\r\nSender: other@else.example\r\nTo: {INFO}\r\n\r\n".encode()

    envelope = parse_envelope(raw, found_in=INFO, received_at=NOW)

    assert (CUSTOMER,) == envelope.from_addresses


def test_a_line_of_spaces_does_not_end_the_headers() -> None:
    raw = f"From: other@else.example\r\n   \r\nFrom: {CUSTOMER}\r\nTo: {INFO}\r\n\r\n".encode()

    assert DecisionKind.REVIEW == decide_headers(raw)[0]


def test_quadratic_backslash_headers_in_every_address_field_stay_fast() -> None:
    value = "a" + "\\\\" * 4000 + "@x.example"
    raw = (
        "".join(
            f"{name}: {value}\r\n" * 10 for name in ("From", "Sender", "To", "Cc", "Reply-To")
        ).encode()
        + b"\r\n"
    )

    started = time.perf_counter()
    parse_envelope(raw, found_in=INFO, received_at=NOW)

    assert time.perf_counter() - started < 3  # was about a minute before the caps
