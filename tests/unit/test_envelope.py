"""parse_envelope: raw header bytes in, an Envelope out; odd mail is recorded, never raised."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from mailbox_rules import Envelope, EnvelopeError, parse_envelope

RECEIVED = datetime(2026, 11, 10, 10, 0, tzinfo=UTC)
HOUSING = "housing@northvale-homes.example"


def parse(*lines: str, found_in: str = HOUSING, raw: bytes | None = None) -> Envelope:
    header_bytes = raw if raw is not None else ("\r\n".join(lines) + "\r\n\r\n").encode()
    return parse_envelope(header_bytes, found_in=found_in, received_at=RECEIVED)


def test_addresses_are_lower_cased_addr_specs_without_display_names() -> None:
    envelope = parse(
        'From: "Margaret Ellis" <Margaret.Ellis@Mailbox.Example>',
        "To: Amelia Hart <Amelia.Hart@Northvale-Homes.Example>, housing@northvale-homes.example",
        "Cc: Dev Patel <dev.patel@northvale-homes.example>",
        "Reply-To: m.ellis@work.example",
    )

    assert ("margaret.ellis@mailbox.example",) == envelope.from_addresses
    assert ("amelia.hart@northvale-homes.example", HOUSING) == envelope.to
    assert ("dev.patel@northvale-homes.example",) == envelope.cc
    assert ("m.ellis@work.example",) == envelope.reply_to


def test_found_in_is_normalised_and_folder_kept() -> None:
    envelope = parse_envelope(
        b"From: a@x.example\r\n\r\n",
        found_in="  Housing@Northvale-Homes.Example ",
        folder="Archive/2026",
        received_at=RECEIVED,
    )

    assert (HOUSING, "Archive/2026") == (envelope.found_in, envelope.folder)


def test_several_from_fields_keep_every_address_and_record_a_problem() -> None:
    envelope = parse("From: a@x.example", "From: Margaret <margaret.ellis@mailbox.example>")

    assert ("a@x.example", "margaret.ellis@mailbox.example") == envelope.from_addresses
    assert "several From fields" in envelope.problems


def test_identities_are_from_then_sender_without_repeats() -> None:
    envelope = parse(
        "From: a@x.example, b@x.example",
        "Sender: b@x.example",
        "Sender: c@x.example",
    )

    assert ("a@x.example", "b@x.example", "c@x.example") == envelope.identities


def test_encoded_word_display_name_is_decoded_and_ignored_for_identity() -> None:
    envelope = parse(
        "From: =?UTF-8?Q?Caf=C3=A9_Owner?= <Owner@Cafe.Example>",
        "Subject: =?UTF-8?Q?=C2=A3450_rent?=",
    )

    assert (("owner@cafe.example",), "£450 rent") == (envelope.from_addresses, envelope.subject)


def test_encoded_display_name_that_spells_an_address_is_not_an_identity() -> None:
    # "margaret.ellis@mailbox.example" as a base64 encoded-word display name.
    envelope = parse(
        "From: =?UTF-8?B?bWFyZ2FyZXQuZWxsaXNAbWFpbGJveC5leGFtcGxl?= <spoof@freemail.example>"
    )

    assert ("spoof@freemail.example",) == envelope.identities


def test_delivered_to_and_x_original_to_are_read_as_recipients() -> None:
    envelope = parse(
        "From: a@x.example",
        "To: councillor.r.mills@council.example",
        "Delivered-To: Housing@Northvale-Homes.Example",
        "X-Original-To: <repairs@northvale-homes.example>",
    )

    assert (HOUSING, "repairs@northvale-homes.example") == envelope.delivered_to
    assert (
        frozenset(
            {"councillor.r.mills@council.example", HOUSING, "repairs@northvale-homes.example"}
        )
        == envelope.recipients
    )


def test_missing_from_is_recorded() -> None:
    envelope = parse("To: housing@northvale-homes.example", "Subject: hello")

    assert ((), ("no From field",)) == (envelope.from_addresses, envelope.problems)


def test_from_without_an_address_is_recorded() -> None:
    envelope = parse("From: Margaret Ellis")

    assert () == envelope.from_addresses
    assert "From field has no usable address" in envelope.problems


def test_message_id_is_kept_with_angle_brackets() -> None:
    assert (
        "<abc.123@mailbox.example>" == parse("Message-ID:  <abc.123@mailbox.example> ").message_id
    )


def test_message_id_without_angle_brackets_is_bracketed() -> None:
    assert "<abc.123@mailbox.example>" == parse("Message-ID: abc.123@mailbox.example").message_id


COMMON = (
    "From: Margaret Ellis <margaret.ellis@mailbox.example>",
    "To: housing@northvale-homes.example",
    "Subject: no id",
    "Date: Mon, 09 Nov 2026 16:42:31 +0000",
)


def test_missing_message_id_gives_a_synthetic_id() -> None:
    message_id = parse(*COMMON).message_id

    assert message_id.startswith("<synthetic-") and message_id.endswith("@spocbot.invalid>")


def test_synthetic_id_is_the_same_for_copies_delivered_to_different_mailboxes() -> None:
    """Received and Delivered-To differ between mailboxes; the synthetic id must not."""
    housing_copy = parse(
        "Received: from mx1.example by imap1.example; Mon, 09 Nov 2026 16:42:32 +0000",
        "Delivered-To: housing@northvale-homes.example",
        *COMMON,
    )
    spoc_copy = parse(
        "Received: from mx2.example by imap2.example; Mon, 09 Nov 2026 16:42:40 +0000",
        "Delivered-To: amelia.hart@northvale-homes.example",
        *COMMON,
        found_in="amelia.hart@northvale-homes.example",
    )

    assert housing_copy.message_id == spoc_copy.message_id


def test_synthetic_id_differs_when_the_message_differs() -> None:
    first = parse(*COMMON)
    second = parse(*COMMON[:2], "Subject: a different message", COMMON[3])

    assert first.message_id != second.message_id


AUTOMATIC = {
    "dsn-multipart-report": (
        ("Content-Type: multipart/report; report-type=delivery-status; boundary=x",),
        "delivery or disposition report (multipart/report; report-type=delivery-status)",
    ),
    "mdn-multipart-report": (
        ('Content-Type: multipart/report; report-type="disposition-notification"; boundary=y',),
        "delivery or disposition report (multipart/report; report-type=disposition-notification)",
    ),
    "auto-submitted-auto-replied": (
        ("Auto-Submitted: auto-replied",),
        "Auto-Submitted: auto-replied",
    ),
    "auto-submitted-with-parameter": (
        ("Auto-Submitted: Auto-Generated; owner-email=x@x.example",),
        "Auto-Submitted: auto-generated",
    ),
    "x-autoreply": (("X-Autoreply: yes",), "X-Autoreply header present"),
    "x-autorespond": (("X-Autorespond: yes",), "X-Autorespond header present"),
    "precedence-auto-reply": (("Precedence: auto_reply",), "Precedence: auto_reply"),
    "precedence-bulk": (("Precedence: Bulk",), "Precedence: bulk"),
    "precedence-junk": (("Precedence: junk",), "Precedence: junk"),
    "precedence-list": (("Precedence: list",), "Precedence: list"),
    "null-return-path": (("Return-Path: <>",), "null return path (Return-Path: <>)"),
    "mailer-daemon-from": (
        ("From: Mail Delivery System <MAILER-DAEMON@mx.mailbox.example>",),
        "sent by mailer-daemon",
    ),
    "postmaster-from": (("From: postmaster@mx.mailbox.example",), "sent by postmaster"),
    "automatic-reply-subject": (
        ("Subject: Automatic reply: Kitchen fan",),
        "subject marks an automatic reply",
    ),
    "auto-reply-subject": (("Subject: Auto-Reply: away",), "subject marks an automatic reply"),
    **{
        f"subject-{subject.split(':')[0].lower().replace(' ', '-')}": (
            (f"Subject: {subject}",),
            "subject marks an automatic reply",
        )
        for subject in (
            "Out of Office: Kitchen fan",
            "OUT OF OFFICE: Kitchen fan",
            "out of office reply: Kitchen fan",
            "Out of the office: back Monday",
            "Automatic Reply: Kitchen fan",
            "AUTOMATIC REPLY: Kitchen fan",
            "Autoreply: away",
            "Auto Reply: away",
            "Auto-Response: away",
            "Abwesenheitsnotiz: Kitchen fan",
            "Automatische Antwort: Kitchen fan",
        )
    },
}


@pytest.mark.parametrize(("headers", "expected"), AUTOMATIC.values(), ids=AUTOMATIC.keys())
def test_automatic_messages_are_recognised(headers: tuple[str, ...], expected: str) -> None:
    lines = headers if any(h.startswith("From:") for h in headers) else ("From: a@x.example",)
    envelope = parse(*lines, *(h for h in headers if not h.startswith("From:")))

    assert expected == envelope.automatic


PERSONAL = {
    "auto-submitted-no": ("Auto-Submitted: no",),
    "auto-submitted-no-uppercase": ("Auto-Submitted: No",),
    "x-auto-response-suppress-alone": ("X-Auto-Response-Suppress: All",),
    "ordinary-return-path": ("Return-Path: <margaret.ellis@mailbox.example>",),
    "reply-to-an-automatic-reply": ("Subject: Re: Automatic reply: Kitchen fan",),
    "out-of-office-inside-the-subject": ("Subject: I was out of office: please call",),
    "office-in-the-subject": ("Subject: Office: broken door",),
    "plain-multipart": ("Content-Type: multipart/mixed; boundary=z",),
    "mailer-daemon-only-in-display-name": ('Subject: "MAILER-DAEMON" says hello',),
}


@pytest.mark.parametrize("headers", PERSONAL.values(), ids=PERSONAL.keys())
def test_person_messages_are_not_automatic(headers: tuple[str, ...]) -> None:
    assert parse("From: Margaret <margaret.ellis@mailbox.example>", *headers).automatic is None


def test_date_is_read_as_utc() -> None:
    envelope = parse("From: a@x.example", "Date: Wed, 01 Jul 2026 23:30:00 +0100")

    assert datetime(2026, 7, 1, 22, 30, tzinfo=UTC) == envelope.date


@pytest.mark.parametrize(
    "value",
    ["garbage", "Mon, 32 Nov 2026 09:14:07 +0000", "Mon, 02 Nov 2026 09:14:07", ""],
    ids=["garbage", "day-32", "no-zone", "empty"],
)
def test_bad_date_gives_none(value: str) -> None:
    assert parse("From: a@x.example", f"Date: {value}").date is None


def test_naive_received_at_raises() -> None:
    with pytest.raises(EnvelopeError, match="timezone-aware"):
        parse_envelope(
            b"From: a@x.example\r\n\r\n", found_in=HOUSING, received_at=datetime(2026, 1, 1)
        )


def test_received_at_is_converted_to_utc() -> None:
    plus_one = timezone(timedelta(hours=1))
    envelope = parse_envelope(
        b"From: a@x.example\r\n\r\n",
        found_in=HOUSING,
        received_at=datetime(2026, 7, 2, 0, 30, tzinfo=plus_one),
    )

    assert datetime(2026, 7, 1, 23, 30, tzinfo=UTC) == envelope.received_at
    assert UTC == envelope.received_at.tzinfo


def test_lf_only_headers_parse_like_crlf_headers() -> None:
    crlf = parse(raw=b"From: A <a@x.example>\r\nTo: b@x.example\r\nSubject: hi\r\n\r\n")
    lf = parse(raw=b"From: A <a@x.example>\nTo: b@x.example\nSubject: hi\n\n")

    assert crlf == lf


def test_undecodable_bytes_do_not_raise() -> None:
    envelope = parse(
        raw=b"From: \xff\xfe Bad <bad@x.example>\r\nSubject: caf\xe9 \xff\r\n"
        b"To: =?bogus?Q?=ZZ?= <c@x.example>\r\n\r\n"
    )

    assert ("bad@x.example",) == envelope.from_addresses
    assert ("c@x.example",) == envelope.to


def test_malformed_recipient_is_dropped_and_recorded() -> None:
    envelope = parse("From: a@x.example", "To: b@x.example, not an address, c@@x.example")

    assert ("b@x.example",) == envelope.to
    assert any(p.startswith("To has ") for p in envelope.problems)


def test_empty_input_gives_no_from_problem_not_an_exception() -> None:
    envelope = parse(raw=b"")

    assert ((), ("no From field",)) == (envelope.identities, envelope.problems)
