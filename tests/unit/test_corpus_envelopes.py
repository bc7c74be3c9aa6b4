"""Real-world messages from ../shared/corpus through parse_envelope and decide.

None of the corpus senders is in the register, so a message may only be ignored or sent for
review; and every delivery report in the corpus must be recognised as automatic.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

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
from tests.corpus import CORPUS, corpus_messages, require_corpus

MESSAGES = corpus_messages()
NOW = datetime(2026, 11, 10, 10, 0, tzinfo=UTC)
HOUSING = "housing@northvale-homes.example"
AMELIA = Officer("Amelia Hart", "amelia.hart@northvale-homes.example")
REGISTER = Register.build(
    [
        Arrangement(
            customer_ref="NV-1001",
            customer_name="Margaret Ellis",
            customer_emails=frozenset({"margaret.ellis@mailbox.example"}),
            spoc=AMELIA,
            cover=None,
            restricted_to=frozenset({AMELIA.email}),
            status=ArrangementStatus.ACTIVE,
            start_date=date(2026, 1, 5),
            review_date=date(2027, 1, 5),
        )
    ],
    watched_mailboxes=[HOUSING, AMELIA.email],
)

# Delivery status notifications, disposition notifications (read receipts) and feedback
# (complaint) reports in the corpus, by path under the corpus directory.
REPORTS = (
    "flanker/bounce/broken-mime.eml",
    "flanker/bounce/delayed.eml",
    "flanker/bounce/gmail-invalid-address.eml",
    "flanker/bounce/gmail-no-dns.eml",
    "flanker/bounce/mailbox-full.eml",
    "flanker/bounce/no-mx.eml",
    "flanker/bounce/office365.eml",
    "flanker/bounce/zed.eml",
    "flanker/complaints/aol.eml",
    "flanker/complaints/yahoo.eml",
    "flanker/disposition-notification.eml",
    "imap_tools/mime_emails/raw_email_with_mimepart_without_content_type.eml",
    "imap_tools/multipart_report_emails/multi_address_bounce1.eml",
    "imap_tools/multipart_report_emails/multi_address_bounce2.eml",
    "imap_tools/multipart_report_emails/multipart_report_multiple_status.eml",
    "imap_tools/multipart_report_emails/report_422.eml",
    "imap_tools/multipart_report_emails/report_530.eml",
    "mail_parser/mail_malformed_2",
    "flanker/bounce/delayed-broken.eml",
)
# flanker/bounce/delayed-broken.eml is only the message/delivery-status body of a bounce: it
# has no From and no multipart/report header, but its own Content-Type says it is a report.
HEADERLESS_REPORT = "flanker/bounce/delayed-broken.eml"

needs_corpus = pytest.mark.usefixtures("corpus_present")


@pytest.fixture
def corpus_present() -> None:
    require_corpus()


def test_corpus_is_present() -> None:
    """Fails in CI (SPOCBOT_REQUIRE_CORPUS=1) if the corpus tests would all be skipped."""
    require_corpus()


def header_block(raw: bytes) -> bytes:
    """The bytes up to and including the first blank line (CRLF or LF)."""
    match = re.search(rb"\r?\n\r?\n", raw)
    return raw[: match.end()] if match else raw


def envelope_of(relative: str) -> Envelope:
    raw = (CORPUS / relative).read_bytes()
    return parse_envelope(header_block(raw), found_in=HOUSING, received_at=NOW)


def ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(CORPUS)) for p in paths]


@needs_corpus
@pytest.mark.parametrize("message", MESSAGES, ids=ids(MESSAGES))
def test_corpus_message_parses_and_is_only_ignored_or_reviewed(message: Path) -> None:
    """No corpus sender is registered: never allowed, breach or warning contact, never a crash."""
    envelope = envelope_of(str(message.relative_to(CORPUS)))

    decision = decide(envelope, REGISTER, NOW)

    assert decision.kind in (DecisionKind.IGNORE, DecisionKind.REVIEW)
    assert (None, None) == (decision.customer_ref, decision.route_to)


@needs_corpus
def test_corpus_is_the_expected_size() -> None:
    """Guards against the glob silently finding nothing (or the wrong tree)."""
    assert len(MESSAGES) >= 180


@needs_corpus
def test_every_flanker_bounce_is_listed_here() -> None:
    bounces = {str(p.relative_to(CORPUS)) for p in (CORPUS / "flanker" / "bounce").glob("*.eml")}

    assert bounces == {r for r in REPORTS if r.startswith("flanker/bounce/")}


@needs_corpus
@pytest.mark.parametrize("relative", REPORTS)
def test_corpus_delivery_reports_are_automatic(relative: str) -> None:
    assert envelope_of(relative).automatic is not None


@needs_corpus
def test_bare_delivery_status_body_is_recognised_as_a_report() -> None:
    """A top-level message/delivery-status (no From at all) is a report, not a person."""
    envelope = envelope_of(HEADERLESS_REPORT)

    decision = decide(envelope, REGISTER, NOW)

    assert (DecisionKind.IGNORE, ("automatic-message",)) == (decision.kind, decision.rules)


@needs_corpus
@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("flanker/disposition-notification.eml", "disposition-notification"),
        ("flanker/complaints/aol.eml", "feedback-report"),
        ("imap_tools/multipart_report_emails/report_422.eml", "delivery-status"),
    ],
)
def test_report_type_is_named(relative: str, expected: str) -> None:
    marker = envelope_of(relative).automatic

    assert f"delivery or disposition report (multipart/report; report-type={expected})" == marker


@needs_corpus
def test_corpus_message_from_a_registered_customer_would_be_a_breach() -> None:
    """The register above is live: the same pipeline does find breaches (the test can fail)."""
    raw = (CORPUS / "imap_tools" / "rfc2822" / "example01.eml").read_bytes()
    raw = header_block(raw).replace(b"jdoe@machine.example", b"margaret.ellis@mailbox.example")
    envelope = parse_envelope(raw, found_in=HOUSING, received_at=NOW)

    assert DecisionKind.BREACH == decide(envelope, REGISTER, NOW).kind
