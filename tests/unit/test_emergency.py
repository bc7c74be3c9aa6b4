"""Emergency phrases: how they are found in text (inflections, filler words, hyphens), what
is deliberately not found, and what of a message is read for them."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from mailbox_rules import (
    Arrangement,
    ArrangementStatus,
    DecisionKind,
    Envelope,
    Officer,
    Register,
    decide,
    message_text,
)
from mailbox_rules.content import MAX_TEXT, MessageText, body_digest
from mailbox_rules.emergency import DEFAULT_EMERGENCY_PHRASES, find_phrases, word_forms

SPOC = Officer("Sam Spoc", "spoc@homes.example")
CUSTOMER = "casey@mail.example"
NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)

# text -> the first phrase found, as it appeared, and the phrase it matched
FOUND = {
    "Water is pouring through the ceiling": '"Water is pouring" (water pouring)',
    "It smells of gas in the hallway": '"smells of gas" (smell gas)',
    "We have burst pipes and water everywhere": '"burst pipes" (burst pipe)',
    "gas is leaking": '"gas is leaking" (gas leak)',
    "there is a strong gas smell": '"gas smell"',
    "there is a fire": '"there is a fire"',
    "There's a fire downstairs": '"There\'s a fire"',
    "the fire alarm going off again": '"fire alarm going off"',
    "the fire alarms keep going off": '"fire alarms keep going off" (fire alarm going off)',
    "water is coming through the ceiling": '"water is coming through" (water coming through)',
    "I want to die": '"want to die"',
    "I keep hurting myself": '"hurting myself" (hurt myself)',
    "there is an exposed wire": '"exposed wire"',
    "exposed wires in the hall": '"exposed wires" (exposed wire)',
    "our carbon-monoxide alarm": '"carbon-monoxide" (carbon monoxide)',
    "the CO alarm is beeping": '"CO alarm"',
    "I smelt gas": '"smelt gas" (smell gas)',
    "the kitchen flooded overnight": '"flooded" (flood)',
    "leaking gas from the cooker": '"leaking gas" (leak gas)',
    "self-harming again": '"self-harming" (self harm)',
    "I dont want to live": '"dont want to live" (don\'t want to live)',
    "the ceiling has collapsed": '"collapsed" (collapse)',
    "the toilet is overflowing": '"toilet is overflowing" (toilet overflow)',
    "he threatened to kill me": '"threatened to kill" (threaten to kill)',
    "GAS   IS\nLEAKING": '"GAS IS LEAKING" (gas leak)',
}


@pytest.mark.parametrize(("text", "expected"), FOUND.items(), ids=FOUND.keys())
def test_common_wordings_of_an_emergency_are_found(text: str, expected: str) -> None:
    assert expected == str(find_phrases(text, DEFAULT_EMERGENCY_PHRASES)[0])


NOT_FOUND = {
    "dismissal": "I was fired in March and cannot pay the rent",
    "firing": "they are firing people at the depot",
    "fire door": "the fire door closer is broken",
    "fire safety": "when is the fire safety inspection?",
    "too many fillers": "gas bill is now very high, and the leak in the gutter",
    "punctuation between the words": "I can smell. Gas bills are too high",
    "negation is never a filler": "smell no gas",
    "car alarm": "the car alarm going off all night",
    "word inside a word": "the gaslight film",
}


@pytest.mark.parametrize("text", NOT_FOUND.values(), ids=NOT_FOUND.keys())
def test_everyday_wordings_are_not_emergencies(text: str) -> None:
    assert [] == find_phrases(text, DEFAULT_EMERGENCY_PHRASES)


FORMS = {
    "leak": {"leak", "leaks", "leaked", "leaking", "leaky"},
    "smell": {"smell", "smells", "smelled", "smelling", "smelly", "smelt"},
    "pipe": {"pipe", "pipes", "piped", "piping", "pipy"},
    "die": {"die", "dies", "died", "dying"},
    "fire": {"fire", "fires", "firy"},  # not fired or firing
    "co": {"co"},
    "don't": {"don't", "dont"},
}


@pytest.mark.parametrize(("word", "expected"), FORMS.items(), ids=FORMS.keys())
def test_each_word_matches_its_common_endings(word: str, expected: set[str]) -> None:
    assert expected <= word_forms(word)
    assert "fired" not in word_forms("fire")


def test_configured_phrases_match_the_same_way() -> None:
    assert ['"gas escaping" (Gas escape)', '"floods" (flood)'] == [
        str(m) for m in find_phrases("gas escaping, floods", ["Gas escape", "flood"])
    ]


def test_each_phrase_is_reported_once() -> None:
    found = find_phrases("gas leak! gas leak! gas is leaking", DEFAULT_EMERGENCY_PHRASES)

    assert ["gas leak"] == [m.phrase for m in found]


def test_a_megabyte_without_an_emergency_is_scanned_quickly() -> None:
    import time

    text = "please could you fix the boiler and the kitchen window " * 20_000
    started = time.perf_counter()
    found = find_phrases(text, DEFAULT_EMERGENCY_PHRASES)

    assert ([], True) == (found, time.perf_counter() - started < 2)


# -- what of a message is read ------------------------------------------------------------------


def mime(body: str, *, subject: str = "Repairs", attachment: str | None = None) -> bytes:
    head = f"From: {CUSTOMER}\r\nTo: {SPOC.email}\r\nSubject: {subject}\r\n"
    if attachment is None:
        return f"{head}\r\n{body}".encode()
    return (
        f"{head}MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        f"--b\r\nContent-Type: text/plain\r\n\r\n{body}\r\n"
        f"--b\r\nContent-Type: text/plain; name=notes.txt\r\n"
        f"Content-Disposition: attachment; filename=notes.txt\r\n\r\n{attachment}\r\n"
        f"--b\r\nContent-Type: text/html\r\nContent-Disposition: attachment; filename=a.html\r\n"
        f"\r\n<p>there is a fire</p>\r\n--b--\r\n"
    ).encode()


def arrangement(**extra: object) -> Arrangement:
    return Arrangement(
        "C-1",
        "Casey",
        frozenset({CUSTOMER}),
        SPOC,
        None,
        frozenset({SPOC.email}),
        ArrangementStatus.ACTIVE,
        date(2026, 1, 1),
        date(2027, 1, 1),
        **extra,  # type: ignore[arg-type]
    )


def decide_text(content: str, **extra: object) -> tuple[DecisionKind, tuple[str, ...], str]:
    envelope = Envelope(
        found_in=SPOC.email,
        folder="INBOX",
        message_id="<m@x>",
        received_at=NOW,
        from_addresses=(CUSTOMER,),
        to=(SPOC.email,),
    )
    decision = decide(
        envelope,
        Register.build([arrangement(**extra)], watched_mailboxes=[SPOC.email]),
        NOW,
        content=content,
        topics={"repairs": ["boiler"], "rent": ["rent"]},
        emergency_phrases=DEFAULT_EMERGENCY_PHRASES,
    )
    return decision.kind, decision.rules, decision.reasons[0]


def test_the_reason_names_the_words_as_they_appeared_and_the_phrase() -> None:
    content = message_text(mime("Help, it smells of gas in the hallway"))

    assert (
        DecisionKind.EMERGENCY,
        ("emergency",),
        'emergency or safeguarding words: "smells of gas" (smell gas)',
    ) == decide_text(content)


def test_a_phrase_deep_in_a_long_message_is_still_found() -> None:
    filler = "Please could you look at the kitchen window again. " * 12_000  # 600,000 chars
    content = message_text(mime(filler + "Also there is water pouring through the ceiling."))

    assert DecisionKind.EMERGENCY == decide_text(content)[0]


def test_the_subject_is_read_however_long_the_text() -> None:
    content = message_text(mime("x " * (MAX_TEXT + 10), subject="GAS LEAK in the flat"))

    assert (DecisionKind.EMERGENCY, MAX_TEXT) == (decide_text(content)[0], len(content))


def test_a_text_attachment_is_read_for_emergencies() -> None:
    content = message_text(mime("See my notes attached.", attachment="The gas is leaking."))

    assert (
        DecisionKind.EMERGENCY,
        'emergency or safeguarding words: "gas is leaking" (gas leak) in an attachment',
    ) == (decide_text(content)[0], decide_text(content)[2])


def test_attachments_are_not_what_a_message_is_about() -> None:
    """Subject matters are judged on what the customer wrote, not on what they attached."""
    content = message_text(mime("See my notes attached.", attachment="My boiler is broken."))

    assert (DecisionKind.BREACH, ("outside-subject",)) == decide_text(
        content, subject_matters=frozenset({"repairs"})
    )[:2]
    assert "See my notes attached." in content and "boiler" not in content


def test_html_attachments_are_not_read() -> None:
    content = message_text(mime("See attached.", attachment="nothing urgent"))

    assert (DecisionKind.ALLOWED, "nothing urgent") == (decide_text(content)[0], content.attached)


def test_the_text_carries_the_body_digest_of_the_raw_message() -> None:
    raw = mime("Hello")

    assert body_digest(raw) == message_text(raw).body_sha256


def test_plain_strings_still_work_as_content() -> None:
    assert DecisionKind.EMERGENCY == decide_text("Subject\nthere is a fire")[0]
    assert isinstance(message_text(b"Subject: x\r\n\r\nhi"), MessageText)
