"""The decision core as a table: one envelope, one register, one time -> one decision.

Envelopes and registers are built directly (no parsing), so each row isolates one policy rule
or one routing choice.  The register is the demo's fictional Northvale Homes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest

from mailbox_rules import (
    Absence,
    Arrangement,
    ArrangementStatus,
    Decision,
    DecisionKind,
    Envelope,
    Officer,
    Register,
    decide,
    parse_envelope,
)

DOMAIN = "northvale-homes.example"
HOUSING = f"housing@{DOMAIN}"
DEV = f"dev.patel@{DOMAIN}"
REPAIRS = f"repairs@{DOMAIN}"
AMELIA = Officer("Amelia Hart", f"amelia.hart@{DOMAIN}")
BEN = Officer("Ben Okafor", f"ben.okafor@{DOMAIN}")
CHLOE = Officer("Chloe Price", f"chloe.price@{DOMAIN}")
DMO = Officer("Data Management Officer", f"dmo@{DOMAIN}")
COUNCILLOR = "councillor.r.mills@council.example"

MARGARET = "margaret.ellis@mailbox.example"
MARGARET_WORK = "m.ellis@work.example"
TOM = "tom.fraser@freemail.example"
PRIYA = "priya.shah@mailbox.example"
GARETH = "g.lewis@mailbox.example"
SANDRA = "sandra.cole@freemail.example"
CARL = "carl.doyle@mailbox.example"
NORA = "nora.quinn@mailbox.example"
STRANGER = "olivia.bennett@freemail.example"

# A winter weekday: London time equals UTC.
NOW = datetime(2026, 11, 10, 10, 0, tzinfo=UTC)
# 23:30 UTC on 1 July is 00:30 on 2 July in London (BST).
SUMMER_LATE = datetime(2026, 7, 1, 23, 30, tzinfo=UTC)


def arrangement(
    ref: str,
    name: str,
    emails: tuple[str, ...],
    spoc: Officer,
    *,
    cover: Officer | None = CHLOE,
    restricted_to: tuple[str, ...] = (),
    status: ArrangementStatus = ArrangementStatus.ACTIVE,
) -> Arrangement:
    return Arrangement(
        customer_ref=ref,
        customer_name=name,
        customer_emails=frozenset(emails),
        spoc=spoc,
        cover=cover,
        restricted_to=frozenset(restricted_to or (spoc.email,)),
        status=status,
        start_date=date(2026, 1, 5),
        review_date=date(2027, 1, 5),
    )


ARRANGEMENTS = (
    arrangement("NV-1001", "Margaret Ellis", (MARGARET, MARGARET_WORK), AMELIA),
    arrangement("NV-1002", "Tom Fraser", (TOM,), BEN),
    arrangement("NV-1003", "Priya Shah", (PRIYA,), AMELIA, status=ArrangementStatus.WARNING),
    arrangement("NV-1004", "Gareth Lewis", (GARETH,), BEN, status=ArrangementStatus.CEASED),
    arrangement("NV-1005", "Sandra Cole", (SANDRA,), AMELIA, restricted_to=(AMELIA.email, HOUSING)),
    arrangement(
        "NV-1006", "Carl Doyle", (CARL,), AMELIA, status=ArrangementStatus.CEASE_AND_DESIST
    ),
    arrangement("NV-1007", "Nora Quinn", (NORA,), BEN, cover=None),
)
WATCHED = (HOUSING, AMELIA.email, BEN.email, CHLOE.email, DEV, REPAIRS)


def register(*absences: Absence) -> Register:
    return Register.build(ARRANGEMENTS, absences, WATCHED)


def away(officer: Officer, starts_on: date, ends_on: date | None = None) -> Absence:
    return Absence(officer.email, starts_on, ends_on or starts_on)


def envelope(
    sender: str | None,
    found_in: str,
    *,
    to: tuple[str, ...] | None = None,
    cc: tuple[str, ...] = (),
    sender_header: tuple[str, ...] = (),
    automatic: str | None = None,
    problems: tuple[str, ...] = (),
) -> Envelope:
    return Envelope(
        found_in=found_in,
        folder="INBOX",
        message_id="<case@mailbox.example>",
        received_at=NOW,
        from_addresses=(sender,) if sender else (),
        sender_addresses=sender_header,
        to=(found_in,) if to is None else to,
        cc=cc,
        subject="Kitchen extractor fan",
        automatic=automatic,
        problems=problems,
    )


@dataclass(frozen=True)
class Case:
    envelope: Envelope
    kind: DecisionKind
    rules: tuple[str, ...]
    customer_ref: str | None
    route_to: Officer | None = None
    absences: tuple[Absence, ...] = ()
    now: datetime = NOW
    dmo: Officer | None = DMO


ALLOWED, BREACH, IGNORE, REVIEW = (
    DecisionKind.ALLOWED,
    DecisionKind.BREACH,
    DecisionKind.IGNORE,
    DecisionKind.REVIEW,
)
PERMITTED = ("permitted-route",)
BYPASSED = ("bypassed-spoc",)

CASES = {
    # -- allowed and breach -------------------------------------------------------------------
    "allowed-to-own-spoc-no-route": Case(
        envelope(MARGARET, AMELIA.email), ALLOWED, PERMITTED, "NV-1001"
    ),
    "breach-found-in-information-mailbox": Case(
        envelope(MARGARET, HOUSING), BREACH, BYPASSED, "NV-1001", AMELIA
    ),
    "breach-found-in-other-staff-mailbox": Case(
        envelope(MARGARET, REPAIRS), BREACH, BYPASSED, "NV-1001", AMELIA
    ),
    "breach-spoc-copy-with-watched-mailbox-in-cc": Case(
        envelope(MARGARET, AMELIA.email, to=(AMELIA.email,), cc=(HOUSING,)),
        BREACH,
        BYPASSED,
        "NV-1001",
        AMELIA,
    ),
    "allowed-spoc-copy-with-outsider-in-cc": Case(
        envelope(MARGARET, AMELIA.email, to=(AMELIA.email,), cc=(COUNCILLOR,)),
        ALLOWED,
        PERMITTED,
        "NV-1001",
    ),
    "breach-bcc-found-in-info-headers-name-only-outsiders": Case(
        envelope(MARGARET, HOUSING, to=(COUNCILLOR,)), BREACH, BYPASSED, "NV-1001", AMELIA
    ),
    "allowed-second-permitted-address": Case(
        envelope(SANDRA, HOUSING), ALLOWED, PERMITTED, "NV-1005"
    ),
    # -- who the customer is ------------------------------------------------------------------
    "customer-matched-case-insensitively": Case(
        envelope("M.Ellis@Work.Example", HOUSING), BREACH, BYPASSED, "NV-1001", AMELIA
    ),
    "customer-matched-by-second-registered-address": Case(
        envelope(MARGARET_WORK, DEV), BREACH, BYPASSED, "NV-1001", AMELIA
    ),
    "customer-named-in-second-from-address": Case(
        dataclasses.replace(envelope(STRANGER, HOUSING), from_addresses=(STRANGER, MARGARET)),
        BREACH,
        BYPASSED,
        "NV-1001",
        AMELIA,
    ),
    "customer-in-sender-header-not-from": Case(
        envelope("pa@agency.example", HOUSING, sender_header=(MARGARET,)),
        BREACH,
        BYPASSED,
        "NV-1001",
        AMELIA,
    ),
    "unknown-sender-ignored": Case(envelope(STRANGER, HOUSING), IGNORE, ("unknown-sender",), None),
    "unreadable-from-needs-review": Case(
        envelope(None, HOUSING, problems=("From field has no usable address",)),
        REVIEW,
        ("unreadable-sender",),
        None,
    ),
    "from-and-sender-two-customers-need-review": Case(
        # Attributed to nobody: which customer wrote it is what a person must decide.
        envelope(MARGARET, HOUSING, sender_header=(TOM,)),
        REVIEW,
        ("several-customers",),
        None,
    ),
    # -- arrangement stages -------------------------------------------------------------------
    "ceased-arrangement-ignored": Case(
        envelope(GARETH, HOUSING), IGNORE, ("arrangement-ceased",), "NV-1004"
    ),
    "mail-received-before-the-arrangement-started-is-ignored": Case(
        dataclasses.replace(
            envelope(MARGARET, HOUSING), received_at=datetime(2026, 1, 4, 23, 59, tzinfo=UTC)
        ),
        IGNORE,
        ("arrangement-not-started",),
        "NV-1001",
    ),
    "mail-on-the-start-date-is-enforced": Case(
        dataclasses.replace(
            envelope(MARGARET, HOUSING), received_at=datetime(2026, 1, 5, 0, 1, tzinfo=UTC)
        ),
        BREACH,
        BYPASSED,
        "NV-1001",
        AMELIA,
    ),
    "warning-stage-is-warning-contact-without-route": Case(
        envelope(PRIYA, HOUSING), DecisionKind.WARNING_CONTACT, ("warning-stage",), "NV-1003"
    ),
    "warning-stage-no-route-even-with-spoc-absent": Case(
        envelope(PRIYA, HOUSING),
        DecisionKind.WARNING_CONTACT,
        ("warning-stage",),
        "NV-1003",
        absences=(away(AMELIA, date(2026, 11, 1), date(2026, 11, 30)),),
    ),
    "cease-and-desist-bypass-is-breach": Case(
        envelope(CARL, HOUSING), BREACH, BYPASSED, "NV-1006", AMELIA
    ),
    "cease-and-desist-to-spoc-is-allowed-and-passed-on-for-screening": Case(
        envelope(CARL, AMELIA.email), ALLOWED, PERMITTED, "NV-1006", AMELIA
    ),
    # -- automatic messages -------------------------------------------------------------------
    "auto-reply-from-customer-address-ignored": Case(
        envelope(MARGARET, HOUSING, automatic="Auto-Submitted: auto-replied"),
        IGNORE,
        ("automatic-message",),
        "NV-1001",
    ),
    "bounce-ignored-even-with-unreadable-from": Case(
        envelope(None, HOUSING, automatic="null return path (Return-Path: <>)"),
        IGNORE,
        ("automatic-message",),
        None,
    ),
    # -- routing ------------------------------------------------------------------------------
    "breach-spoc-absent-goes-to-cover": Case(
        envelope(TOM, HOUSING),
        BREACH,
        BYPASSED,
        "NV-1002",
        CHLOE,
        absences=(away(BEN, date(2026, 11, 9), date(2026, 11, 20)),),
    ),
    "other-officers-absence-does-not-reroute": Case(
        envelope(TOM, HOUSING),
        BREACH,
        BYPASSED,
        "NV-1002",
        BEN,
        absences=(away(AMELIA, date(2026, 11, 9), date(2026, 11, 20)),),
    ),
    "absence-uses-london-date-not-utc-date-absent": Case(
        envelope(TOM, HOUSING),
        BREACH,
        BYPASSED,
        "NV-1002",
        CHLOE,
        absences=(away(BEN, date(2026, 7, 2), date(2026, 7, 10)),),
        now=SUMMER_LATE,
    ),
    "absence-uses-london-date-not-utc-date-back": Case(
        envelope(TOM, HOUSING),
        BREACH,
        BYPASSED,
        "NV-1002",
        BEN,
        absences=(away(BEN, date(2026, 6, 20), date(2026, 7, 1)),),
        now=SUMMER_LATE,
    ),
    "absence-first-day-inclusive": Case(
        envelope(TOM, HOUSING),
        BREACH,
        BYPASSED,
        "NV-1002",
        CHLOE,
        absences=(away(BEN, date(2026, 11, 10), date(2026, 11, 20)),),
    ),
    "absence-last-day-inclusive": Case(
        envelope(TOM, HOUSING),
        BREACH,
        BYPASSED,
        "NV-1002",
        CHLOE,
        absences=(away(BEN, date(2026, 11, 1), date(2026, 11, 10)),),
    ),
    "absence-ended-yesterday": Case(
        envelope(TOM, HOUSING),
        BREACH,
        BYPASSED,
        "NV-1002",
        BEN,
        absences=(away(BEN, date(2026, 11, 1), date(2026, 11, 9)),),
    ),
    "absence-starts-tomorrow": Case(
        envelope(TOM, HOUSING),
        BREACH,
        BYPASSED,
        "NV-1002",
        BEN,
        absences=(away(BEN, date(2026, 11, 11), date(2026, 11, 20)),),
    ),
    "spoc-and-cover-absent-goes-to-dmo": Case(
        envelope(TOM, HOUSING),
        BREACH,
        BYPASSED,
        "NV-1002",
        DMO,
        absences=(away(BEN, date(2026, 11, 10)), away(CHLOE, date(2026, 11, 10))),
    ),
    "spoc-and-cover-absent-no-dmo-goes-to-spoc": Case(
        envelope(TOM, HOUSING),
        BREACH,
        BYPASSED,
        "NV-1002",
        BEN,
        absences=(away(BEN, date(2026, 11, 10)), away(CHLOE, date(2026, 11, 10))),
        dmo=None,
    ),
    "spoc-absent-no-cover-officer-goes-to-dmo": Case(
        envelope(NORA, HOUSING),
        BREACH,
        BYPASSED,
        "NV-1007",
        DMO,
        absences=(away(BEN, date(2026, 11, 10)),),
    ),
    "allowed-spoc-absent-goes-to-cover-without-breach": Case(
        envelope(TOM, BEN.email),
        ALLOWED,
        PERMITTED,
        "NV-1002",
        CHLOE,
        absences=(away(BEN, date(2026, 11, 9), date(2026, 11, 20)),),
    ),
    "allowed-spoc-and-cover-absent-goes-to-dmo": Case(
        envelope(TOM, BEN.email),
        ALLOWED,
        PERMITTED,
        "NV-1002",
        DMO,
        absences=(away(BEN, date(2026, 11, 10)), away(CHLOE, date(2026, 11, 10))),
    ),
    "allowed-to-second-permitted-address-spoc-absent-no-route": Case(
        # Sandra may write to housing@: that team has her message; only mail that reached the
        # absent SPOC's own inbox is passed to cover.
        envelope(SANDRA, HOUSING),
        ALLOWED,
        PERMITTED,
        "NV-1005",
        None,
        absences=(away(AMELIA, date(2026, 11, 1), date(2026, 11, 30)),),
    ),
    "allowed-cc-to-absent-spoc-found-in-second-address-goes-to-cover": Case(
        envelope(SANDRA, HOUSING, cc=(AMELIA.email,)),
        ALLOWED,
        PERMITTED,
        "NV-1005",
        CHLOE,
        absences=(away(AMELIA, date(2026, 11, 1), date(2026, 11, 30)),),
    ),
    "allowed-spoc-and-cover-absent-no-dmo-no-route": Case(
        envelope(TOM, BEN.email),
        ALLOWED,
        PERMITTED,
        "NV-1002",
        None,
        absences=(away(BEN, date(2026, 11, 10)), away(CHLOE, date(2026, 11, 10))),
        dmo=None,
    ),
}


def run(case: Case) -> Decision:
    return decide(case.envelope, register(*case.absences), case.now, dmo=case.dmo)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_decision_table(case: Case) -> None:
    """Each row: the decision kind, the rule that fired, the customer and the route."""
    decision = run(case)

    expected = (case.kind, case.rules, case.customer_ref, case.route_to)
    assert expected == (decision.kind, decision.rules, decision.customer_ref, decision.route_to)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_reasons_are_plain_sentences_about_the_message(case: Case) -> None:
    """Reasons are readable strings: no object reprs, no customer name, one per fired rule."""
    decision = run(case)

    assert len(decision.rules) == len(decision.reasons)
    for reason in decision.reasons:
        assert isinstance(reason, str)
        assert reason.strip() == reason != ""
        for artefact in ("Officer(", "Arrangement(", "frozenset", "ArrangementStatus", "None"):
            assert artefact not in reason
        for arrangement_ in ARRANGEMENTS:
            assert arrangement_.customer_name not in reason


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_route_reason_is_given_exactly_when_there_is_a_route(case: Case) -> None:
    decision = run(case)

    assert (decision.route_to is not None) == bool(decision.route_reason)
    assert decision.forwards == (decision.route_to is not None)


def test_arrangement_view_carries_no_reasons_for_the_arrangement() -> None:
    """The core never receives why an arrangement exists, so it cannot disclose it (policy §8)."""
    names = {f.name for f in dataclasses.fields(Arrangement)}

    assert set() == {n for n in names if "reason" in n or "note" in n or "history" in n}


def test_breach_reason_names_the_bypassed_and_the_permitted_addresses() -> None:
    """A SPOC copy with watched mailboxes in Cc names those mailboxes, sorted, not the SPOC."""
    decision = run(
        Case(envelope(MARGARET, AMELIA.email, cc=(HOUSING, DEV)), BREACH, BYPASSED, "NV-1001")
    )

    expected = (f"sent to {DEV}, {HOUSING} instead of the permitted address {AMELIA.email}",)
    assert expected == decision.reasons


def test_breach_reason_names_the_mailbox_it_was_found_in_first() -> None:
    decision = run(CASES["breach-bcc-found-in-info-headers-name-only-outsiders"])

    assert (f"sent to {HOUSING} instead of the permitted address {AMELIA.email}",) == (
        decision.reasons
    )


def test_breach_reason_lists_every_permitted_address() -> None:
    decision = run(Case(envelope(SANDRA, DEV), BREACH, BYPASSED, "NV-1005"))

    expected = (f"sent to {DEV} instead of the permitted addresses {AMELIA.email}, {HOUSING}",)
    assert expected == decision.reasons


def test_allowed_reason_names_the_mailbox() -> None:
    decision = run(CASES["allowed-to-own-spoc-no-route"])

    assert (f"sent by the permitted route ({AMELIA.email})",) == decision.reasons


def test_two_customers_reason_names_both_refs() -> None:
    decision = run(CASES["from-and-sender-two-customers-need-review"])

    assert ("sender addresses belong to 2 different customers (NV-1001, NV-1002)",) == (
        decision.reasons
    )


ROUTE_REASONS = {
    "breach-found-in-information-mailbox": "to SPOC Amelia Hart",
    "breach-spoc-absent-goes-to-cover": "SPOC Ben Okafor is absent; to cover officer Chloe Price",
    "spoc-and-cover-absent-goes-to-dmo": (
        "SPOC Ben Okafor is absent and cover officer Chloe Price is absent too; to the DMO"
    ),
    "spoc-absent-no-cover-officer-goes-to-dmo": (
        "SPOC Ben Okafor is absent and no cover officer; to the DMO"
    ),
    "spoc-and-cover-absent-no-dmo-goes-to-spoc": (
        "SPOC Ben Okafor is absent and nobody else can act; to SPOC anyway"
    ),
}


@pytest.mark.parametrize(("case_id", "expected"), ROUTE_REASONS.items(), ids=ROUTE_REASONS.keys())
def test_route_reason_says_who_and_why(case_id: str, expected: str) -> None:
    assert expected == run(CASES[case_id]).route_reason


def test_display_name_that_copies_a_customer_address_is_review_not_a_match() -> None:
    """Only the addr-spec identifies the sender; a lookalike display name goes to a person."""
    headers = (
        f'From: "{MARGARET}" <m3rg4ret@freemail.example>\r\n'
        f"To: {HOUSING}\r\nSubject: update my bank details\r\n\r\n"
    ).encode()
    parsed = parse_envelope(headers, found_in=HOUSING, received_at=NOW)

    decision = decide(parsed, register(), NOW, dmo=DMO)

    assert (REVIEW, ("display-name-lookalike",), None) == (
        decision.kind,
        decision.rules,
        decision.customer_ref,
    )


def test_breach_and_review_need_the_raw_message_but_ignore_does_not() -> None:
    kinds = {
        name: run(CASES[name]).needs_raw_message
        for name in (
            "breach-found-in-information-mailbox",
            "unreadable-from-needs-review",
            "unknown-sender-ignored",
            "allowed-to-own-spoc-no-route",
            "allowed-spoc-absent-goes-to-cover-without-breach",
        )
    }

    assert {
        "breach-found-in-information-mailbox": True,
        "unreadable-from-needs-review": True,
        "unknown-sender-ignored": False,
        "allowed-to-own-spoc-no-route": False,
        "allowed-spoc-absent-goes-to-cover-without-breach": True,
    } == kinds


def test_register_lookup_ignores_case() -> None:
    """Register lookups lower-case the address, so a mixed-case identity still matches."""
    reg = register()

    assert reg.arrangement_for("Tom.Fraser@FreeMail.Example") is reg.arrangement_for(TOM)
    assert reg.arrangement_for(TOM) is not None


NO_REPLY_ADDRESSES = (
    "noreply@mailbox.example",
    "no-reply@mailbox.example",
    "no_reply-4411@mailbox.example",
    "No.Reply@mailbox.example",
    "do_not_reply@mailbox.example",
    "do-not-reply@mailbox.example",
    "donotreply@mailbox.example",
    "alerts-noreply@mailbox.example",
    "bounce@mailbox.example",
    "bounces+abc@mailbox.example",
    "mailer-daemon@mailbox.example",
    "postmaster@mailbox.example",
)


@pytest.mark.parametrize("address", NO_REPLY_ADDRESSES)
def test_no_reply_addresses_never_get_an_acknowledgement(address: str) -> None:
    customer = dataclasses.replace(
        ARRANGEMENTS[0], customer_emails=frozenset({address}), acknowledge=True
    )
    decision = decide(envelope(address, AMELIA.email), Register.build([customer], (), WATCHED), NOW)

    assert (DecisionKind.ALLOWED, None) == (decision.kind, decision.acknowledge_to)


@pytest.mark.parametrize(
    "address", ["margaret.ellis@mailbox.example", "reply.to.me@mailbox.example", "nora@x.example"]
)
def test_ordinary_addresses_get_an_acknowledgement(address: str) -> None:
    customer = dataclasses.replace(
        ARRANGEMENTS[0], customer_emails=frozenset({address}), acknowledge=True
    )
    decision = decide(envelope(address, AMELIA.email), Register.build([customer], (), WATCHED), NOW)

    assert address == decision.acknowledge_to


def test_an_out_of_office_subject_from_a_customer_is_never_acknowledged() -> None:
    customer = dataclasses.replace(ARRANGEMENTS[0], acknowledge=True)
    raw = f"From: {MARGARET}\r\nTo: {AMELIA.email}\r\nSubject: Out of Office: fan\r\n\r\n"
    env = parse_envelope(raw.encode(), found_in=AMELIA.email, received_at=NOW)

    decision = decide(env, Register.build([customer], (), WATCHED), NOW)

    assert (DecisionKind.IGNORE, ("automatic-message",), None) == (
        decision.kind,
        decision.rules,
        decision.acknowledge_to,
    )


# -- emergencies are never held by a gate -------------------------------------------------------

GAS = "Subject\nPlease come quickly, the gas is leaking in the kitchen"
PHRASES = ("gas leak", "flood")


def parsed(*headers: str, found_in: str = HOUSING) -> Envelope:
    raw = "\r\n".join((*headers, f"To: {found_in}", "Message-ID: <m@x>")) + "\r\n\r\n"
    return parse_envelope(raw.encode(), found_in=found_in, received_at=NOW)


@dataclass(frozen=True)
class Gated:
    envelope: Envelope
    rules: tuple[str, ...]
    customer_ref: str
    route_to: Officer
    candidates: tuple[str, ...] = ()
    also_to: tuple[tuple[str, Officer], ...] = ()
    absences: tuple[Absence, ...] = ()


GATED = {
    "bulk-mail-from-a-customer": Gated(
        parsed(f"From: {MARGARET}", "Precedence: bulk"),
        ("emergency", "automatic-message"),
        "NV-1001",
        AMELIA,
    ),
    "auto-reply-from-a-customer": Gated(
        parsed(f"From: {TOM}", "Auto-Submitted: auto-replied"),
        ("emergency", "automatic-message"),
        "NV-1002",
        BEN,
    ),
    "out-of-office-subject-from-a-customer-with-spoc-away": Gated(
        parsed(f"From: {TOM}", "Subject: Out of Office: repairs"),
        ("emergency", "automatic-message"),
        "NV-1002",
        CHLOE,
        absences=(away(BEN, NOW.date()),),
    ),
    "cease-and-desist-customer-bulk-mail": Gated(
        parsed(f"From: {CARL}", "X-Autoreply: yes"),
        ("emergency", "automatic-message"),
        "NV-1006",
        AMELIA,
    ),
    "customer-and-another-author-in-from": Gated(
        parsed(f"From: {MARGARET}, partner@else.example"),
        ("emergency", "ambiguous-sender"),
        "NV-1001",
        AMELIA,
        candidates=("NV-1001",),
    ),
    "stranger-first-then-customer-in-from": Gated(
        parsed(f"From: partner@else.example, {TOM}"),
        ("emergency", "ambiguous-sender"),
        "NV-1002",
        BEN,
        candidates=("NV-1002",),
    ),
    "two-from-fields": Gated(
        parsed(f"From: {TOM}", "From: partner@else.example"),
        ("emergency", "ambiguous-sender"),
        "NV-1002",
        BEN,
        candidates=("NV-1002",),
    ),
    "unreadable-from-naming-a-customer": Gated(
        parsed(f'From: "Margaret <{MARGARET}>'),
        ("emergency", "unreadable-sender"),
        "NV-1001",
        AMELIA,
        candidates=("NV-1001",),
    ),
    "from-and-sender-two-customers": Gated(
        parsed(f"From: {TOM}", f"Sender: {MARGARET}"),
        ("emergency", "several-customers"),
        "NV-1002",
        BEN,
        candidates=("NV-1001", "NV-1002"),
        also_to=(("NV-1001", AMELIA),),
    ),
    "two-customers-with-the-same-spoc-one-forward": Gated(
        parsed(f"From: {MARGARET}", f"Sender: {SANDRA}"),
        ("emergency", "several-customers"),
        "NV-1001",
        AMELIA,
        candidates=("NV-1001", "NV-1005"),
    ),
}


def decide_gated(env: Envelope, content: str | None, *absences: Absence) -> Decision:
    return decide(
        env,
        register(*absences),
        NOW,
        dmo=DMO,
        content=content,
        emergency_phrases=PHRASES,
        emergency_route=Officer("Contact centre", "cc@northvale-homes.example"),
    )


@pytest.mark.parametrize("case", GATED.values(), ids=GATED.keys())
def test_an_emergency_is_never_ignored_or_held_by_a_gate(case: Gated) -> None:
    """Policy: an emergency must never be lost because of a restriction; nor because the
    message looked automatic or its sender was unclear."""
    decision = decide_gated(case.envelope, GAS, *case.absences)

    assert (
        DecisionKind.EMERGENCY,
        case.rules,
        case.customer_ref,
        case.route_to,
        case.candidates,
        case.also_to,
        "cc@northvale-homes.example",
        None,
        False,
    ) == (
        decision.kind,
        decision.rules,
        decision.customer_ref,
        decision.route_to,
        decision.candidates,
        tuple((c.customer_ref, c.route_to) for c in decision.also_to),
        decision.emergency_route.email if decision.emergency_route else None,
        decision.acknowledge_to,
        decision.breached,
    )
    assert decision.reasons[0] == (
        'emergency or safeguarding words: "gas is leaking" (gas leak)'
    ) and len(decision.reasons) == len(decision.rules)


@pytest.mark.parametrize("case", GATED.values(), ids=GATED.keys())
def test_from_headers_alone_a_held_customer_message_asks_for_its_text(case: Gated) -> None:
    decision = decide_gated(case.envelope, None, *case.absences)

    assert (case.rules[1], True) == (decision.rules[0], decision.needs_content)


@pytest.mark.parametrize("case", GATED.values(), ids=GATED.keys())
def test_without_emergency_words_the_gate_decides_as_before(case: Gated) -> None:
    decision = decide_gated(case.envelope, "Subject\nthe fan is noisy", *case.absences)
    plain = decide(case.envelope, register(*case.absences), NOW, dmo=DMO)

    assert (plain.kind, plain.rules, False) == (
        decision.kind,
        decision.rules,
        decision.needs_content,
    )


STILL_GATED = {
    "delivery-report-quoting-the-words": (
        parsed(
            f"From: {MARGARET}",
            "Content-Type: multipart/report; report-type=delivery-status; boundary=x",
        ),
        DecisionKind.IGNORE,
    ),
    "ceased-arrangement": (parsed(f"From: {GARETH}", "Precedence: bulk"), DecisionKind.IGNORE),
    "warning-stage-auto-reply": (
        parsed(f"From: {PRIYA}", "Auto-Submitted: auto-replied"),
        DecisionKind.IGNORE,
    ),
    "stranger-bulk-mail": (parsed(f"From: {STRANGER}", "Precedence: bulk"), DecisionKind.IGNORE),
    "display-name-lookalike": (
        parsed(f'From: "{MARGARET}" <{STRANGER}>'),
        DecisionKind.REVIEW,
    ),
}


@pytest.mark.parametrize(("env", "kind"), STILL_GATED.values(), ids=STILL_GATED.keys())
def test_gated_mail_that_is_no_restricted_customers_own_stays_gated(
    env: Envelope, kind: DecisionKind
) -> None:
    """Reports quote other messages, and ceased or warning-stage arrangements hold nothing
    back; a lookalike display name is not the customer writing."""
    assert (kind, False) == (
        decide_gated(env, GAS).kind,
        decide_gated(env, None).needs_content,
    )


def test_without_emergency_phrases_nothing_extra_is_read() -> None:
    env = GATED["bulk-mail-from-a-customer"].envelope

    assert (DecisionKind.IGNORE, False) == (
        decide(env, register(), NOW).kind,
        decide(env, register(), NOW).needs_content,
    )


def test_staff_domains_cover_their_subdomains() -> None:
    staff = Register.build([], staff_domains=["northvale-homes.example"])

    assert (True, True, False) == (
        staff.is_staff(f"x@{DOMAIN}"),
        staff.is_staff(f"x@mail.{DOMAIN}"),
        staff.is_staff("x@evil-northvale-homes.example"),
    )
