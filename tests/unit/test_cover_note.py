"""The cover note and subject templates: who the message is said to be from."""

from __future__ import annotations

import pytest

from bot.templating import Templates

KINDS = ("emergency-forward", "emergency-route", "screening-forward", "breach-forward")
CONTEXT = {
    "organisation": "Northvale Homes",
    "customer_ref": "NV-1001",
    "customer_name": "Margaret Ellis",
    "mailboxes": ["housing@northvale-homes.example"],
    "bypassed": ["housing@northvale-homes.example"],
    "received_at": "Monday 9 November 2026 at 16:45 GMT",
    "reason": "sent to housing@ instead of the permitted address",
    "route_reason": "the customer's SPOC",
    "breach_number": "#12 (3rd for this customer)",
    "spoc_name": "Amelia Hart",
    "screen_new_issue": False,
    "attached_as_file": False,
}
ADVOCATE = "advocate@help.example"


def first_line(kind: str, **extra: object) -> str:
    note = Templates().render("forward_cover_note.txt.j2", **CONTEXT, kind=kind, **extra)
    return note.splitlines()[0]


def test_a_breach_from_the_customer_says_it_is_from_the_customer() -> None:
    assert (
        "SPOC breach #12 (3rd for this customer): a message from Margaret Ellis (NV-1001) "
        "reached housing@northvale-homes.example instead of the permitted route."
    ) == first_line("breach-forward")


def test_a_breach_from_a_representative_says_so_with_their_address() -> None:
    assert (
        "SPOC breach #12 (3rd for this customer): a message from advocate@help.example, the "
        "agreed representative of Margaret Ellis (NV-1001), reached "
        "housing@northvale-homes.example instead of the permitted route."
    ) == first_line("breach-forward", representative=ADVOCATE)


@pytest.mark.parametrize("kind", [*KINDS, "cover-forward"])
def test_every_kind_of_note_names_the_representative_and_their_address(kind: str) -> None:
    note = Templates().render(
        "forward_cover_note.txt.j2", **CONTEXT, kind=kind, representative=ADVOCATE
    )

    assert f"{ADVOCATE}, the agreed representative of Margaret Ellis (NV-1001)," in note
    assert f"From:          {ADVOCATE} (the customer's agreed representative)\n" in note


def test_the_subject_says_a_representative_wrote() -> None:
    subject = Templates().render_line(
        "forward_subject.txt.j2", **CONTEXT, kind="breach-forward", representative=ADVOCATE
    )

    assert (
        "[SPOC breach #12 (3rd for this customer)] NV-1001 Margaret Ellis's representative "
        "wrote to housing@northvale-homes.example"
    ) == subject


def test_without_a_representative_the_note_has_no_from_line() -> None:
    note = Templates().render("forward_cover_note.txt.j2", **CONTEXT, kind="breach-forward")

    assert "From:" not in note and "representative" not in note
