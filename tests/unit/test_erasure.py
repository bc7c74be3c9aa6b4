"""Erasure (`register erase`, UK GDPR art. 17): refused while the arrangement is in force or
within its retention period; otherwise nothing about the person is left in any table or in
the evidence folder, other customers' records and shared raw files stay, the tombstone
names no one, the evidence chain's links stay (purged) and the audit log is append-only
again afterwards."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import DBAPIError

from bot import erasure, evidence_chain, register_amend
from bot.store import models as m
from tests.privacytest import (
    ERIN,
    ERIN_TERMS,
    KIM,
    KIM_TERMS,
    end,
    files_mentioning,
    populated,
    readable,
    rows_mentioning,
)
from tests.schedtest import Harness

TODAY = date(2026, 12, 4)


def erase(h: Harness, ref: str = ERIN, **kw: object) -> erasure.ErasureResult:
    return erasure.erase_customer(
        h.app.factory,
        h.app.evidence,
        ref,
        operator="dmo",
        now=h.now,
        today=TODAY,
        months_after_end=6,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return populated(tmp_path)


def test_erasure_is_refused_while_the_arrangement_is_in_force(h: Harness) -> None:
    with pytest.raises(erasure.ErasureRefused, match="the arrangement is in force"):
        erase(h)


def test_erasure_is_refused_within_the_retention_period_with_the_date(h: Harness) -> None:
    end(h, ERIN, date(2026, 7, 1))

    with pytest.raises(erasure.ErasureRefused) as refused:
        erase(h)

    assert "kept until 2027-01-01 under [retention] months_after_end = 6 (policy §8)" in str(
        refused.value
    )


def test_erasure_is_refused_for_ceased_without_an_end_date(h: Harness) -> None:
    h.arrangement(ERIN, status="ceased", ended_on=None)

    with pytest.raises(erasure.ErasureRefused, match="its end is not recorded"):
        erase(h)


def test_erasure_is_refused_while_a_message_about_them_is_unsent(h: Harness) -> None:
    end(h, ERIN, date(2026, 1, 2))
    with h.app.factory.begin() as session:
        session.execute(update(m.Outbox).where(m.Outbox.kind == "letter").values(status="pending"))

    with pytest.raises(
        erasure.ErasureRefused, match=r"not sent yet \(outbox \d+ \(letter, pending"
    ):
        erase(h)


def test_the_search_for_the_person_finds_them_before_the_erasure(h: Harness) -> None:
    """The scans below are known to work: before, they find Erin everywhere."""
    assert (True, True) == (
        len(rows_mentioning(h, ERIN_TERMS)) > 10,
        len(files_mentioning(h.app.evidence.root, ERIN_TERMS)) > 3,
    )


def test_after_erasure_no_row_in_any_table_mentions_the_person(h: Harness) -> None:
    end(h, ERIN, date(2026, 1, 2))

    erase(h)

    assert [] == rows_mentioning(h, ERIN_TERMS)


def test_after_erasure_no_stored_file_mentions_the_person(h: Harness) -> None:
    end(h, ERIN, date(2026, 1, 2))

    erase(h)

    assert [] == files_mentioning(h.app.evidence.root, ERIN_TERMS)


def test_other_customers_records_and_shared_raw_files_stay(h: Harness) -> None:
    end(h, ERIN, date(2026, 1, 2))

    def kims() -> list[str]:  # where Kim is mentioned (the values lose Erin's reference)
        return [row.split(":")[0] for row in rows_mentioning(h, KIM_TERMS)]

    before = kims()
    with h.app.factory() as session:
        kim_sha = session.scalars(
            select(m.Breach.sha256).join(m.Customer).where(m.Customer.ref == KIM)
        ).one()

    erase(h)

    with h.app.factory() as session:
        kim_outbox = session.scalar(
            select(func.count()).select_from(m.Outbox).join(m.Customer).where(m.Customer.ref == KIM)
        )
    assert (before, True, 1) == (
        kims(),
        h.app.evidence.path_for(kim_sha).exists(),
        kim_outbox,
    )


def test_the_review_items_candidates_lose_only_the_erased_reference(h: Harness) -> None:
    end(h, ERIN, date(2026, 1, 2))

    erase(h)

    with h.app.factory() as session:
        assert [KIM] == list(session.scalars(select(m.ReviewItem.candidates)))


def test_the_tombstone_counts_what_went_and_names_no_one(h: Harness) -> None:
    end(h, ERIN, date(2026, 1, 2))

    result = erase(h)

    with h.app.factory() as session:
        tombstone = session.get_one(m.Erasure, result.erasure_id)
        event = session.scalars(
            select(m.AuditEvent).where(m.AuditEvent.action == "register.erase")
        ).one()
    counts = json.loads(tombstone.counts)
    assert ("erasure", 1, 1, 1, 1, 3, None) == (
        tombstone.reason,
        counts["customers"],
        counts["breaches"],
        counts["letters"],
        counts["quarantine"],
        counts["evidence_links_purged"],
        event.customer_ref,
    )
    assert result.raw_files == counts["raw_files"] > 0


def test_the_evidence_links_stay_marked_purged_without_salt_or_customer(h: Harness) -> None:
    end(h, ERIN, date(2026, 1, 2))

    result = erase(h)

    with h.app.factory() as session:
        links = list(session.scalars(select(m.EvidenceLink).order_by(m.EvidenceLink.id)))
        kim = session.scalars(select(m.Customer.id).where(m.Customer.ref == KIM)).one()
        report = evidence_chain.verify(session, h.app.evidence)
    purged = [(link.salt, link.customer_id, link.erasure_id) for link in links if link.purged_at]
    kept = [
        (bool(link.salt), link.customer_id, link.erasure_id) for link in links if not link.purged_at
    ]
    # Erin's breach, contact and letter: purged, identifying nobody; Kim's breach untouched.
    assert [(None, None, result.erasure_id)] * 3 == purged
    assert [(True, kim, None)] == kept
    # ... and the chain still verifies, counting the purged links.
    assert (True, 4, 3) == (report.ok, report.links, report.purged), report.problems


def test_the_audit_log_refuses_deletes_again_after_the_erasure(h: Harness) -> None:
    end(h, ERIN, date(2026, 1, 2))
    erase(h)

    with pytest.raises(DBAPIError, match="append-only"), h.app.factory.begin() as session:
        session.execute(delete(m.AuditEvent))
    with h.app.factory() as session:
        assert 0 == session.scalar(select(func.count()).select_from(m.AuditPermit))


def test_a_dry_run_changes_nothing_and_reports_the_counts(h: Harness) -> None:
    end(h, ERIN, date(2026, 1, 2))
    before = rows_mentioning(h, ERIN_TERMS)

    result = erase(h, dry_run=True)

    assert (None, 1, before) == (
        result.erasure_id,
        result.counts["breaches"],
        rows_mentioning(h, ERIN_TERMS),
    )


def test_a_file_left_by_an_interrupted_erasure_is_swept_later(h: Harness) -> None:
    end(h, ERIN, date(2026, 1, 2))
    leftover = h.app.evidence.put(b"Subject: left behind\r\n\r\nErin Quill\r\n")
    path = h.app.evidence.path_for(leftover)

    young = erasure.sweep_unreferenced(h.app.factory, h.app.evidence, h.now)
    kept_young = path.exists()
    later = h.now + 2 * erasure.SWEEP_GRACE
    old = erasure.sweep_unreferenced(h.app.factory, h.app.evidence, later)

    assert (0, True, True, False) == (young, kept_young, old >= 1, path.exists())


def test_the_sweep_keeps_every_referenced_file(h: Harness) -> None:
    files = sorted(p for p in h.app.evidence.root.rglob("*.eml"))

    erasure.sweep_unreferenced(h.app.factory, h.app.evidence, h.now + 2 * erasure.SWEEP_GRACE)

    assert files == sorted(p for p in h.app.evidence.root.rglob("*.eml"))


def test_a_digest_naming_both_customers_is_kept_with_the_erased_one_replaced(h: Harness) -> None:
    end(h, ERIN, date(2026, 1, 2))

    erase(h)

    with h.app.factory() as session:
        digests = list(session.scalars(select(m.Outbox).where(m.Outbox.kind == "digest")))
    stored = [readable(h.app.evidence.get(d.original_sha256)) for d in digests]
    assert (True, True, True) == (
        len(digests) >= 1,
        all("kim oakes" in text for text in stored),
        all(erasure.ERASED in text for text in stored),
    )


def test_a_review_item_naming_only_them_goes_with_its_raw_file(h: Harness) -> None:
    """A stranger writing on her behalf: the item is about her alone."""
    end(h, ERIN, date(2026, 1, 2))
    with h.app.factory() as session:
        behalf = session.scalars(
            select(m.ReviewItem).where(m.ReviewItem.message_id == "<x2@elsewhere.example>")
        ).one()
    path = h.app.evidence.path_for(behalf.sha256 or "")

    erase(h)

    with h.app.factory() as session:
        gone = session.get(m.ReviewItem, behalf.id) is None
    assert (True, False) == (gone, path.exists())


def test_a_review_item_naming_others_too_stays_without_them(h: Harness) -> None:
    end(h, ERIN, date(2026, 1, 2))

    erase(h)

    with h.app.factory() as session:
        item = session.scalars(
            select(m.ReviewItem).where(m.ReviewItem.message_id == "<x1@elsewhere.example>")
        ).one()
    raw = readable(h.app.evidence.get(item.sha256 or ""))
    assert (KIM, "open", True, True, False, False) == (
        item.candidates,
        item.status,
        KIM in item.reason and erasure.ERASED in item.reason,
        "kim oakes" in raw,
        "erin" in raw,
        any("erin" in (v or "").casefold() for v in (item.reason, item.subject, item.note)),
    )


def test_a_dry_run_counts_the_raw_files_the_erasure_deletes_and_writes_none(h: Harness) -> None:
    end(h, ERIN, date(2026, 1, 2))
    files = sorted(h.app.evidence.root.rglob("*"))

    dry = erase(h, dry_run=True)
    untouched = sorted(h.app.evidence.root.rglob("*")) == files
    real = erase(h)

    assert (True, True, None) == (untouched, dry.raw_files == real.raw_files > 0, dry.erasure_id)
    assert dry.counts == real.counts


def test_a_name_and_an_address_corrected_before_the_erasure_go_too(h: Harness) -> None:
    """What identified the person before `register amend` corrected it is in the mail and
    notices kept from then (found through the amendment's audit entry)."""
    register_amend.amend(
        h.app.factory,
        ERIN,
        register_amend.Amendment(
            reason="she asked", name="Erin O'Quill-Smith", remove_emails=("eq@work.example",)
        ),
        operator="dmo",
    )
    end(h, ERIN, date(2026, 1, 2))

    erase(h)

    terms = (*ERIN_TERMS, "o'quill-smith")
    assert [] == rows_mentioning(h, terms)
    assert [] == files_mentioning(h.app.evidence.root, terms)
    with h.app.factory() as session:  # her quarantined message, from the removed address
        assert 0 == session.scalar(select(func.count()).select_from(m.Quarantine))


def test_the_erased_rows_are_left_neither_in_the_database_file_nor_its_wal(
    h: Harness, tmp_path: Path
) -> None:
    """A running service keeps its database open: the write-ahead log would hold the
    erased rows until a checkpoint, and freed pages their bytes, without secure_delete."""
    end(h, ERIN, date(2026, 1, 2))

    erase(h)

    files = [tmp_path / "state" / name for name in ("db.sqlite", "db.sqlite-wal")]
    kept = b"".join(f.read_bytes() for f in files if f.exists()).lower()
    assert (b"erin quill" in kept, b"erin.quill@mail.example" in kept) == (False, False)


def test_a_name_and_an_address_a_register_import_replaced_go_too(
    h: Harness, tmp_path: Path
) -> None:
    """The DMO's file renamed her and dropped an address: the mail and notices from before
    still carry the old ones."""
    (tmp_path / "renamed.csv").write_text(
        (tmp_path / "register.csv")
        .read_text()
        .replace("Erin Quill", "Erin Quill-Jones")
        .replace("erin.quill@mail.example;eq@work.example", "erin.quill@mail.example")
    )
    from bot.register_service import import_register

    import_register(h.app.factory, tmp_path / "renamed.csv", staff_addresses=(), staff_domains=())
    with h.app.factory() as session:
        assert {"Erin Quill", "eq@work.example"} == set(
            session.scalars(select(m.FormerIdentifier.value))
        )
    end(h, ERIN, date(2026, 1, 2))

    erase(h)

    assert [] == rows_mentioning(h, ERIN_TERMS)
    assert [] == files_mentioning(h.app.evidence.root, ERIN_TERMS)


def test_a_review_item_that_only_mentions_the_person_is_kept_without_them(h: Harness) -> None:
    """An unreadable sender who signs with her name names no candidate: the item is someone's
    to look at still, but her name goes from its kept message."""
    raw = b"From: <broken\r\nSubject: Bathroom tap\r\n\r\nThe tap drips.\r\nErin Quill\r\n"
    sha = h.app.evidence.put(raw)
    with h.app.factory.begin() as session:
        session.add(
            m.ReviewItem(
                mailbox="info@homes.example",
                folder="INBOX",
                uidvalidity=1,
                uid=99,
                message_id="<tap@mail.example>",
                received_at=h.now,
                subject="Bathroom tap",
                rules="unreadable-sender",
                reason="the sender's address cannot be read",
                sha256=sha,
            )
        )
    end(h, ERIN, date(2026, 1, 2))

    erase(h)

    with h.app.factory() as session:
        item = session.scalars(select(m.ReviewItem).where(m.ReviewItem.uid == 99)).one()
        kept = readable(h.app.evidence.get(item.sha256 or ""))
    assert ("open", False, True) == (item.status, "Erin Quill" in kept, "tap drips" in kept)
    assert [] == files_mentioning(h.app.evidence.root, ERIN_TERMS)
