"""The review queue on in-memory mail fakes and a real SQLite database: what the watcher puts
there, and what confirming or dismissing an item does (records, forwards, address, audit)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from bot import reports, review_service
from bot.audit import events
from bot.policy import Policy
from bot.register_service import export_register, import_register
from bot.review_service import ReviewError
from bot.store import models as m
from tests.unit.test_watcher_with_fakes import NOW, Harness, customer_message

NEW_ADDRESS = "casey.new@else.example"


def stranger_message(
    n: int = 1, sender: str = NEW_ADDRESS, to: str = "info@homes.example", body: str = ""
) -> bytes:
    return (
        f"From: C <{sender}>\r\nTo: {to}\r\nSubject: Boiler {n}\r\n"
        f"Message-ID: <s{n}@else.example>\r\nDate: Thu, 3 Dec 2026 09:00:00 +0000\r\n\r\n"
        + (body or "The boiler is out again.\r\n\r\nThanks,\r\nCasey Customer\r\n")
    ).encode()


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def confirm(h: Harness, item_id: int, **options: object) -> review_service.ConfirmResult:
    return review_service.confirm(
        h.app.factory,
        Policy(h.app.settings),
        h.app.evidence,
        item_id,
        operator="dmo-user",
        now=NOW,
        bot_address="bot@homes.example",
        **options,  # type: ignore[arg-type]
    )


def queue(h: Harness, status: str | None = "open") -> list[dict[str, object]]:
    with h.app.factory() as session:
        return reports.review_items(session, status)


def test_possible_match_waits_for_review_and_nothing_is_sent(h: Harness) -> None:
    h.info.deliver(stranger_message())

    report = h.watcher.run_pass()

    assert (1, 1, 0) == (report.to_review, report.text_scanned, len(h.sender.sent))
    [item] = queue(h)
    assert (NEW_ADDRESS, ["C-1"], "possible-match") == (
        item["sender"],
        item["candidates"],
        item["rules"],
    )
    assert h.app.evidence.get(str(item["sha256"])).startswith(b"From: C <")


def test_an_ordinary_strangers_message_is_read_but_nothing_of_it_is_kept(h: Harness) -> None:
    h.info.deliver(stranger_message(body="When is the bin collection?\r\n"))

    report = h.watcher.run_pass()

    assert (0, 1, 1, 0) == (
        report.to_review,
        report.text_scanned,
        h.info.partial_fetches,
        h.info.raw_fetches,
    )
    assert not any(h.app.evidence.root.rglob("*.eml"))


def test_confirming_adds_the_address_records_the_breach_and_forwards_it(h: Harness) -> None:
    h.info.deliver(stranger_message())
    h.watcher.run_pass()

    result = confirm(h, 1, note="phoned her to check")
    h.watcher.run_pass()

    assert (NEW_ADDRESS, "breach") == (result.address_added, result.decisions[0][1].kind.value)
    [breach] = h.breaches()
    assert "confirmed as the customer's from the review queue by dmo-user" in str(breach["reason"])
    assert [("spoc@homes.example", "bot@homes.example")] == [s.recipients for s in h.sender.sent]
    [item] = queue(h, "confirmed")
    assert ("C-1", "dmo-user", "phoned her to check") == (
        item["customer_ref"],
        item["decided_by"],
        item["note"],
    )
    with h.app.factory() as session:
        [event] = events(session, "C-1", action="review.")
    assert ("review.confirm", "review_item:1") == (event["action"], event["record"])
    assert "note: phoned her to check" in str(event["details"])


def test_after_confirming_the_new_address_is_the_customers(h: Harness) -> None:
    h.info.deliver(stranger_message())
    h.watcher.run_pass()
    confirm(h, 1)
    h.info.deliver(stranger_message(2, body="No signature this time.\r\n"))

    report = h.watcher.run_pass()

    assert (1, 0) == (report.new_breaches, report.to_review)


def test_confirming_twice_is_refused_and_changes_nothing(h: Harness) -> None:
    h.info.deliver(stranger_message())
    h.watcher.run_pass()
    confirm(h, 1)

    with pytest.raises(ReviewError, match="already confirmed by dmo-user"):
        confirm(h, 1)
    assert 1 == len(h.breaches())


def test_every_sighting_of_the_message_is_answered_together(h: Harness) -> None:
    raw = stranger_message(to="info@homes.example, spoc@homes.example")
    h.info.deliver(raw)
    h.spoc.deliver(raw)
    h.watcher.run_pass()
    assert 2 == len(queue(h))

    result = confirm(h, 1)

    assert [1, 2] == [item.id for item, _ in result.decisions]
    assert [] == queue(h)
    [breach] = h.breaches()  # one breach, seen in two mailboxes
    assert ["info@homes.example", "spoc@homes.example"] == sorted(breach["mailboxes"])  # type: ignore[arg-type]


def test_dismissing_records_the_answer_and_sends_nothing(h: Harness) -> None:
    h.info.deliver(stranger_message())
    h.watcher.run_pass()

    closed = review_service.dismiss(
        h.app.factory, h.app.evidence, 1, operator="dmo-user", now=NOW, note="her neighbour"
    )
    h.watcher.run_pass()

    assert ([1], [], []) == (closed, h.sender.sent, queue(h))
    with h.app.factory() as session:
        *_, event = events(session)  # after the harness's register import
    assert ("review.dismiss", "dmo-user") == (event["action"], event["operator"])
    with pytest.raises(ReviewError, match="already dismissed"):
        confirm(h, 1)


def test_whose_message_must_be_said_when_the_item_names_nobody(h: Harness) -> None:
    h.info.deliver(b"From: Casey\r\nSubject: hi\r\nMessage-ID: <x@y>\r\n\r\nbody\r\n")
    h.watcher.run_pass()

    with pytest.raises(ReviewError, match="say whose with --customer"):
        confirm(h, 1)
    result = confirm(h, 1, customer_ref="C-1")

    assert (None, "no sender address could be read, so none was added") == (
        result.address_added,
        result.address_note,
    )
    assert 1 == len(h.breaches())


def test_confirming_for_a_customer_not_in_the_register_is_refused(h: Harness) -> None:
    h.info.deliver(stranger_message())
    h.watcher.run_pass()

    with pytest.raises(ReviewError, match="no customer C-9"):
        confirm(h, 1, customer_ref="C-9")
    assert 1 == len(queue(h))


def test_without_adding_the_address_only_this_message_is_theirs(h: Harness) -> None:
    h.info.deliver(stranger_message())
    h.watcher.run_pass()
    confirm(h, 1, add_address=False)
    h.info.deliver(stranger_message(2))

    report = h.watcher.run_pass()

    assert (0, 1) == (report.new_breaches, report.to_review)


def test_reimporting_an_older_register_keeps_a_confirmed_address(
    h: Harness, tmp_path: Path
) -> None:
    h.info.deliver(stranger_message())
    h.watcher.run_pass()
    confirm(h, 1)

    result = import_register(
        h.app.factory, tmp_path / "register.csv", staff_addresses=(), staff_domains=()
    )

    assert (("C-1", NEW_ADDRESS),) == result.kept_from_review
    export_register(h.app.factory, tmp_path / "exported.csv")
    assert NEW_ADDRESS in (tmp_path / "exported.csv").read_text()
    import_register(h.app.factory, tmp_path / "exported.csv", staff_addresses=(), staff_domains=())
    with h.app.factory() as session:
        source = session.scalar(
            select(m.CustomerEmail.source).where(m.CustomerEmail.address == NEW_ADDRESS)
        )
    assert "register" == source  # now in the DMO's own file


def test_strangers_texts_are_read_in_one_request_per_run(h: Harness) -> None:
    for n in range(3):
        h.info.deliver(stranger_message(n, sender=f"s{n}@else.example", body="Hello.\r\n"))

    report = h.watcher.run_pass()

    assert (3, 1, 0) == (report.text_scanned, h.info.partial_fetches, h.info.raw_fetches)


def test_a_customers_limit_counts_messages_recorded_earlier_in_the_same_run(
    h: Harness, tmp_path: Path
) -> None:
    limited = (tmp_path / "register.csv").read_text().splitlines()
    (tmp_path / "limited.csv").write_text(
        f"{limited[0]},max_contacts\n{limited[1]},1/week\n", encoding="utf-8"
    )
    import_register(h.app.factory, tmp_path / "limited.csv", staff_addresses=(), staff_domains=())
    first, second = (customer_message(n).replace(b"To: info@", b"To: spoc@") for n in (1, 2))
    h.spoc.deliver(first)
    h.info.deliver(stranger_message(body="Hello.\r\n"))
    h.spoc.deliver(second)

    report = h.watcher.run_pass()

    assert {"allowed": 1, "breach": 1, "ignore": 1} == dict(report.decisions)


def test_confirming_an_emergency_already_forwarded_sends_nothing_again(h: Harness) -> None:
    h.info.deliver(
        customer_message(1)
        .replace(b"From: Casey <casey@mail.example>", b"From: casey@mail.example, pat@else.example")
        .replace(b"Please fix the boiler.", b"The gas is leaking!")
    )
    h.watcher.run_pass()
    [item] = queue(h)

    result = confirm(h, int(str(item["id"])))
    h.watcher.run_pass()

    assert ("emergency", 1) == (result.decisions[0][1].kind.value, len(h.sender.sent))
    assert [] == queue(h)


def test_confirming_for_a_partners_customer_records_it_but_adds_no_address(h: Harness) -> None:
    """A partner's entry (``share import``) is read-only here: the message is theirs, but
    the new address belongs in the file the partner shares."""
    with h.app.factory.begin() as session:
        customer = session.scalars(select(m.Customer).where(m.Customer.ref == "C-1")).one()
        customer.source, customer.partner = "partner", "Northvale Council"
    h.info.deliver(stranger_message())
    h.watcher.run_pass()

    result = confirm(h, 1)

    assert (None, "breach") == (result.address_added, result.decisions[0][1].kind.value)
    assert "C-1 is Northvale Council's arrangement, read-only here" in result.address_note
    with h.app.factory() as session:
        assert NEW_ADDRESS not in session.scalars(select(m.CustomerEmail.address)).all()
