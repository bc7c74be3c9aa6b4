"""The evidence chain: written with every breach, contact and letter through the real code
paths, and every way of tampering with the database or the evidence store detected, named and
failing `spocbot evidence verify` (exit 1).  A retention purge as the contract describes it
leaves the chain verifiable; the 0013 backfill's frozen hashing agrees with the application's.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from bot.bootstrap import build_app
from bot.evidence_chain import (
    GENESIS,
    canonical,
    content_hash,
    link,
    link_hash,
    raw_hash,
)
from bot.store import models as m
from tests.chaintest import ChainHarness


@pytest.fixture
def h(tmp_path: Path) -> ChainHarness:
    harness = ChainHarness(tmp_path)
    harness.populate()
    return harness


def links(h: ChainHarness) -> list[m.EvidenceLink]:
    with h.app.factory() as session:
        return list(session.scalars(select(m.EvidenceLink).order_by(m.EvidenceLink.id)))


def link_of(h: ChainHarness, kind: str, record_id: int) -> m.EvidenceLink:
    return next(row for row in links(h) if (row.record_kind, row.record_id) == (kind, record_id))


def breach_of(h: ChainHarness, ref: str, nth: int = 0) -> m.Breach:
    with h.app.factory() as session:
        return list(
            session.scalars(
                select(m.Breach).join(m.Customer).where(m.Customer.ref == ref).order_by(m.Breach.id)
            )
        )[nth]


# -- the hashes -------------------------------------------------------------------------------


def test_the_hashes_are_plain_sha256_of_salt_and_canonical_json() -> None:
    fields = {"reason": "Zoë's 3rd email", "id": 7, "at": datetime(2026, 7, 1, 10, 0, tzinfo=UTC)}

    content = canonical(fields)

    assert '{"at":"2026-07-01T10:00:00+00:00","id":7,"reason":"Zo\\u00eb\'s 3rd email"}' == (
        content
    )
    assert hashlib.sha256(b"ab" + content.encode()).hexdigest() == content_hash("ab", content)
    assert hashlib.sha256(b"ab" + b"f00d").hexdigest() == raw_hash("ab", "f00d")
    assert hashlib.sha256(b"ab").hexdigest() == raw_hash("ab", None)
    assert hashlib.sha256(f"{GENESIS}|breach|7|c|r".encode()).hexdigest() == link_hash(
        GENESIS, "breach", 7, "c", "r"
    )


def test_times_are_hashed_in_utc_and_a_naive_time_is_refused() -> None:
    bst = timezone(timedelta(hours=1))

    assert canonical({"at": datetime(2026, 7, 1, 11, 0, tzinfo=bst)}) == canonical(
        {"at": datetime(2026, 7, 1, 10, 0, tzinfo=UTC)}
    )
    with pytest.raises(ValueError, match="naive"):
        canonical({"at": datetime(2026, 7, 1, 10, 0)})


# -- written with every record ----------------------------------------------------------------


def test_every_breach_contact_and_letter_has_one_link_in_recording_order(h: ChainHarness) -> None:
    chain = links(h)
    with h.app.factory() as session:
        records = {
            (kind, row.id): row.customer_id
            for kind, model in (("breach", m.Breach), ("contact", m.Contact), ("letter", m.Letter))
            for row in session.scalars(select(model))
        }

    assert 8 == len(records) == len(chain)
    assert records == {(row.record_kind, row.record_id): row.customer_id for row in chain}
    assert ["breach", "contact", "breach", "letter", "breach", "contact", "letter", "breach"] == [
        row.record_kind for row in chain
    ]
    assert [GENESIS] + [row.link_hash for row in chain[:-1]] == [row.prev_hash for row in chain]
    report = h.verify()
    assert (True, 8, 0, 8, chain[-1].link_hash) == (
        report.ok,
        report.links,
        report.purged,
        report.raw_files,
        report.head,
    )


def test_verify_from_the_command_line_prints_one_line_and_exits_0(h: ChainHarness) -> None:
    code, out, _ = h.cli("evidence", "verify")

    assert 0 == code
    head = links(h)[-1].link_hash
    summary = f"Evidence chain intact: 8 link(s), 0 purged, 8 raw file(s) checked; head {head}."
    assert [summary] == out.splitlines()


def test_a_message_decided_again_adds_no_second_link(h: ChainHarness) -> None:
    h.info.recreate()  # a new UIDVALIDITY: the watcher reads and decides every message again
    h.tick()

    assert 8 == len(links(h))
    assert h.verify().ok


# -- the triggers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "refusal"),
    [
        ("UPDATE evidence_links SET content_hash = 'x' WHERE id = 2", "cannot be changed"),
        ("UPDATE evidence_links SET prev_hash = link_hash WHERE id = 2", "cannot be changed"),
        ("DELETE FROM evidence_links WHERE id = 2", "cannot be deleted"),
    ],
)
def test_the_triggers_refuse_a_naive_update_or_delete_of_a_link(
    h: ChainHarness, sql: str, refusal: str
) -> None:
    with h.tamper(drop_triggers=False) as db, pytest.raises(sqlite3.DatabaseError, match=refusal):
        db.execute(sql)

    assert h.verify().ok


# -- tampering, each way ----------------------------------------------------------------------


def _edit_breach(h: ChainHarness) -> tuple[str, int, int | None, str]:
    breach = breach_of(h, "NV-1", 1)
    with h.tamper() as db:
        db.execute("UPDATE breaches SET reason = 'sent to the SPOC' WHERE id = ?", (breach.id,))
    return "breach", breach.id, link_of(h, "breach", breach.id).id, "the record was edited"


def _edit_breach_time(h: ChainHarness) -> tuple[str, int, int | None, str]:
    breach = breach_of(h, "NV-1", 1)
    with h.tamper() as db:
        db.execute(
            "UPDATE breaches SET received_at = '2026-12-03 08:59:00.000000' WHERE id = ?",
            (breach.id,),
        )
    return "breach", breach.id, link_of(h, "breach", breach.id).id, "the record was edited"


def _delete_breach(h: ChainHarness) -> tuple[str, int, int | None, str]:
    breach = breach_of(h, "NV-2")
    with h.tamper() as db:
        db.execute("DELETE FROM breach_sightings WHERE breach_id = ?", (breach.id,))
        db.execute("DELETE FROM breaches WHERE id = ?", (breach.id,))
    return "breach", breach.id, link_of(h, "breach", breach.id).id, "it was deleted"


def _delete_link(h: ChainHarness) -> tuple[str, int, int | None, str]:
    chain = links(h)
    with h.tamper() as db:
        db.execute("DELETE FROM evidence_links WHERE id = ?", (chain[2].id,))
    after = chain[3]
    return after.record_kind, after.record_id, after.id, "the link it follows is missing"


def _edit_link(h: ChainHarness) -> tuple[str, int, int | None, str]:
    target = links(h)[3]
    with h.tamper() as db:
        db.execute("UPDATE evidence_links SET raw_hash = ? WHERE id = ?", ("0" * 64, target.id))
    return target.record_kind, target.record_id, target.id, "the link was edited"


def _rewrite_link(h: ChainHarness) -> tuple[str, int, int | None, str]:
    """A cleverer edit: a new content hash, and the link's own hash recomputed to match."""
    target = links(h)[2]
    forged = hashlib.sha256(b"forged").hexdigest()
    rehashed = link_hash(
        target.prev_hash, target.record_kind, target.record_id, forged, target.raw_hash
    )
    with h.tamper() as db:
        db.execute(
            "UPDATE evidence_links SET content_hash = ?, link_hash = ? WHERE id = ?",
            (forged, rehashed, target.id),
        )
    return target.record_kind, target.record_id, target.id, "no longer match its content hash"


def _swap_links(h: ChainHarness) -> tuple[str, int, int | None, str]:
    first, second = links(h)[2:4]
    columns = ("record_kind", "record_id", "customer_id", "salt", "content_hash", "raw_hash")
    columns += ("prev_hash", "link_hash")
    with h.tamper() as db:
        # Out of the way first: the record, prev_hash and link_hash are each unique.
        db.execute(
            "UPDATE evidence_links SET record_id = -1, link_hash = 'x', prev_hash = 'x'"
            " WHERE id = ?",
            (first.id,),
        )
        for row, other in ((first, second), (second, first)):
            db.execute(
                f"UPDATE evidence_links SET {', '.join(f'{c} = ?' for c in columns)} WHERE id = ?",
                (*(getattr(row, c) for c in columns), other.id),
            )
    return second.record_kind, second.record_id, first.id, "links were reordered"


def _alter_raw_file(h: ChainHarness) -> tuple[str, int, int | None, str]:
    breach = breach_of(h, "NV-1", 1)
    path = h.raw_path(breach.sha256)
    path.chmod(0o600)
    path.write_bytes(path.read_bytes().replace(b"boiler", b"kettle"))
    return "breach", breach.id, link_of(h, "breach", breach.id).id, "has been altered"


def _delete_raw_file(h: ChainHarness) -> tuple[str, int, int | None, str]:
    with h.app.factory() as session:
        letter = session.scalars(select(m.Letter).order_by(m.Letter.id)).first()
    assert letter is not None
    h.raw_path(letter.sha256).unlink()
    return "letter", letter.id, link_of(h, "letter", letter.id).id, "is missing from the evidence"


def _insert_breach(h: ChainHarness) -> tuple[str, int, int | None, str]:
    with h.tamper() as db:
        cursor = db.execute(
            "INSERT INTO breaches (customer_id, message_id, received_at, reason, rules, sha256,"
            " subject_key, new_issue, size, created_at) VALUES (1, '<forged@mail.example>',"
            " '2026-12-01 10:00:00.000000', 'sent to info@homes.example', 'bypassed-spoc',"
            " ?, 'forged', 1, 100, '2026-12-01 10:00:00.000000')",
            ("0" * 64,),
        )
        forged = cursor.lastrowid
    assert forged is not None
    return "breach", forged, None, "no link in the chain"


def _an_erasure(db: Any, links: int = 0) -> int:
    """A genuine-looking tombstone already in the database (as any purge leaves one)."""
    cursor = db.execute(
        "INSERT INTO erasures (at, operator, reason, counts) VALUES "
        "('2026-12-03 12:00:00.000000', 'dmo', 'retention', ?)",
        (json.dumps({"evidence_links_purged": links}),),
    )
    return int(cursor.lastrowid)


def _edit_under_a_false_purge(h: ChainHarness) -> tuple[str, int, int | None, str]:
    """Mark a live record's link purged under an existing tombstone, then rewrite the record:
    the record is still there, so the purge is false."""
    breach = breach_of(h, "NV-1", 1)
    target = link_of(h, "breach", breach.id)
    with h.tamper() as db:
        erasure = _an_erasure(db, links=1)
        db.execute(
            "UPDATE evidence_links SET purged_at = '2026-12-03 12:00:00.000000', salt = NULL,"
            " customer_id = NULL, erasure_id = ? WHERE id = ?",
            (erasure, target.id),
        )
        db.execute("UPDATE breaches SET reason = 'FORGED' WHERE id = ?", (breach.id,))
    return "breach", breach.id, target.id, "its record is still there"


def _delete_under_a_false_purge(h: ChainHarness) -> tuple[str, int, int | None, str]:
    """Mark a letter's link purged under a tombstone that counted other links, and delete the
    letter: the tombstone's count gives it away."""
    with h.app.factory() as session:
        letter = session.scalars(select(m.Letter).order_by(m.Letter.id)).first()
    assert letter is not None
    target = link_of(h, "letter", letter.id)
    with h.tamper() as db:
        erasure = _an_erasure(db, links=0)
        db.execute(
            "UPDATE evidence_links SET purged_at = '2026-12-03 12:00:00.000000', salt = NULL,"
            " customer_id = NULL, erasure_id = ? WHERE id = ?",
            (erasure, target.id),
        )
        db.execute("DELETE FROM outbox WHERE id = ?", (letter.outbox_id,))
        db.execute("DELETE FROM letters WHERE id = ?", (letter.id,))
    return "erasure", erasure, None, "marked purged by hand"


def _raw_file_replaced_by_a_link(h: ChainHarness) -> tuple[str, int, int | None, str]:
    """Even a symbolic link to identical bytes is a replaced file (and /dev/zero would never
    end)."""
    breach = breach_of(h, "NV-1", 1)
    path = h.raw_path(breach.sha256)
    copy = path.with_name("elsewhere.eml")
    copy.write_bytes(path.read_bytes())
    path.chmod(0o600)
    path.unlink()
    path.symlink_to(copy)
    return "breach", breach.id, link_of(h, "breach", breach.id).id, "not a plain file"


def _garble_a_time(h: ChainHarness) -> tuple[str, int, int | None, str]:
    breach = breach_of(h, "NV-1", 1)
    with h.tamper() as db:
        db.execute("UPDATE breaches SET created_at = 'garbage' WHERE id = ?", (breach.id,))
    return "breach", breach.id, link_of(h, "breach", breach.id).id, "cannot be read"


def _a_float_where_a_number_was(h: ChainHarness) -> tuple[str, int, int | None, str]:
    breach = breach_of(h, "NV-1", 1)
    with h.tamper() as db:
        db.execute("UPDATE breaches SET size = 1.5 WHERE id = ?", (breach.id,))
    return "breach", breach.id, link_of(h, "breach", breach.id).id, "cannot be read"


def _bytes_where_text_was(h: ChainHarness) -> tuple[str, int, int | None, str]:
    breach = breach_of(h, "NV-1", 1)
    with h.tamper() as db:
        db.execute("UPDATE breaches SET reason = X'0001' WHERE id = ?", (breach.id,))
    return "breach", breach.id, link_of(h, "breach", breach.id).id, "cannot be read"


TAMPERINGS = {
    "a float where a whole number was": _a_float_where_a_number_was,
    "bytes where text was": _bytes_where_text_was,
    "edit a record under a false purge": _edit_under_a_false_purge,
    "delete a record under a false purge": _delete_under_a_false_purge,
    "replace a raw file by a link": _raw_file_replaced_by_a_link,
    "garble a record's time": _garble_a_time,
    "edit a breach field": _edit_breach,
    "edit a breach's time": _edit_breach_time,
    "delete a breach row": _delete_breach,
    "delete a link": _delete_link,
    "edit a link": _edit_link,
    "rewrite a link and its hash": _rewrite_link,
    "swap two links": _swap_links,
    "alter a raw file": _alter_raw_file,
    "delete a raw file": _delete_raw_file,
    "insert a breach with no link": _insert_breach,
}


@pytest.mark.parametrize("tampering", TAMPERINGS.values(), ids=TAMPERINGS.keys())
def test_each_tampering_is_detected_and_named(h: ChainHarness, tampering: object) -> None:
    kind, record_id, link_id, what = tampering(h)  # type: ignore[operator]

    report = h.verify()
    code, out, _ = h.cli("evidence", "verify")

    problem = report.first_problem
    assert problem is not None
    assert (kind, record_id, link_id) == (problem.record_kind, problem.record_id, problem.link_id)
    assert what in problem.what
    where = f"link {link_id}" if link_id is not None else "no link"
    assert 1 == code
    assert out.startswith(f"Evidence chain BROKEN at {kind} {record_id} ({where}): {problem.what}")


def test_verify_json_names_the_first_problem(h: ChainHarness) -> None:
    kind, record_id, link_id, _ = _delete_breach(h)

    code, out, _ = h.cli("evidence", "verify", "--json")

    report = json.loads(out)
    assert (1, False) == (code, report["ok"])
    assert {"record_kind": kind, "record_id": record_id, "link_id": link_id} == {
        k: report["problems"][0][k] for k in ("record_kind", "record_id", "link_id")
    }
    assert report["first_problem"].startswith(f"{kind} {record_id} (link {link_id}): ")


def test_removing_the_newest_links_is_seen_only_against_a_head_noted_earlier(
    h: ChainHarness,
) -> None:
    noted = h.verify().head
    newest = links(h)[-1]
    with h.tamper() as db:
        db.execute("DELETE FROM evidence_links WHERE id = ?", (newest.id,))
        db.execute("DELETE FROM breach_sightings WHERE breach_id = ?", (newest.record_id,))
        db.execute("DELETE FROM breaches WHERE id = ?", (newest.record_id,))

    alone = h.cli("evidence", "verify")
    against_head = h.cli("evidence", "verify", "--head", noted)
    as_json = h.cli("evidence", "verify", "--head", noted, "--json")

    assert 0 == alone[0]  # a shorter chain is still a valid chain
    assert 1 == against_head[0]
    assert against_head[1].startswith(f"Evidence chain BROKEN: the head {noted} noted earlier")
    assert (1, False, [noted]) == (
        as_json[0],
        json.loads(as_json[1])["ok"],
        json.loads(as_json[1])["lost_heads"],
    )
    assert 0 == h.cli("evidence", "verify", "--head", links(h)[-1].link_hash)[0]


# -- retention purge (helper B's contract) ----------------------------------------------------


def purge(h: ChainHarness, ref: str) -> int:
    """A purge as the contract describes it: the customer's links marked purged (salt and
    customer removed; the triggers allow it), then the records and raw files deleted."""
    with h.app.factory.begin() as session:
        customer_id = session.scalars(select(m.Customer.id).where(m.Customer.ref == ref)).one()
        erasure = m.Erasure(operator="test", reason="retention", counts="{}")
        permit = m.AuditPermit(reason="retention purge")  # as an erasure holds one
        session.add_all([erasure, permit])
        session.flush()
        marked = session.execute(
            update(m.EvidenceLink)
            .where(m.EvidenceLink.customer_id == customer_id)
            .values(purged_at=h.now, erasure_id=erasure.id, salt=None, customer_id=None)
        ).rowcount
        erasure.counts = json.dumps({"evidence_links_purged": marked})
        session.delete(permit)
        hashes = [
            sha
            for model in (m.Breach, m.Contact, m.Letter)
            for sha in session.scalars(select(model.sha256).where(model.customer_id == customer_id))
        ]
        breach_ids = select(m.Breach.id).where(m.Breach.customer_id == customer_id)
        session.execute(delete(m.Letter).where(m.Letter.customer_id == customer_id))
        session.execute(delete(m.BreachSighting).where(m.BreachSighting.breach_id.in_(breach_ids)))
        session.execute(delete(m.Outbox).where(m.Outbox.customer_id == customer_id))
        session.execute(delete(m.Breach).where(m.Breach.customer_id == customer_id))
        session.execute(delete(m.Contact).where(m.Contact.customer_id == customer_id))
    for sha in hashes:
        if sha:
            h.raw_path(sha).unlink()
    return int(marked)


def test_a_retention_purge_leaves_the_chain_verifiable(h: ChainHarness) -> None:
    assert 3 == purge(h, "NV-2")

    report = h.verify()
    code, out, _ = h.cli("evidence", "verify")

    assert (True, 8, 3, 5) == (report.ok, report.links, report.purged, report.raw_files)
    assert (0, True) == (code, "8 link(s), 3 purged" in out)
    assert all(row.salt is None for row in links(h) if row.purged_at is not None)


def test_after_a_purge_of_the_newest_records_a_new_record_never_takes_a_purged_id(
    h: ChainHarness,
) -> None:
    purge(h, "NV-2")  # held the newest contact and the newest letter
    assert ([1], [1]) == (h.ids(m.Contact), h.ids(m.Letter))
    h.now += timedelta(days=7)  # a new week: NV-1 is within its contact limit again

    h.contact("NV-1")
    h.letter("NV-1")

    assert ([1, 3], [1, 3]) == (h.ids(m.Contact), h.ids(m.Letter))
    report = h.verify()
    assert (True, 10, 3) == (report.ok, report.links, report.purged)


def test_the_triggers_refuse_to_mark_a_link_purged_outside_an_erasure(h: ChainHarness) -> None:
    breach = breach_of(h, "NV-1", 1)
    target = link_of(h, "breach", breach.id)
    refused = pytest.raises(sqlite3.IntegrityError, match="only by an erasure")
    with refused, h.tamper(drop_triggers=False) as db:
        db.execute("UPDATE evidence_links SET salt = NULL WHERE id = ?", (target.id,))
    assert h.verify().ok


def test_a_link_marked_purged_without_a_purge_is_detected(h: ChainHarness) -> None:
    """Marking a link purged by hand (the triggers dropped) to hide a deleted record is still
    seen, since no purge or erasure tombstone names it."""
    breach = breach_of(h, "NV-1", 1)
    target = link_of(h, "breach", breach.id)
    with h.tamper() as db:
        db.execute(
            "UPDATE evidence_links SET purged_at = '2026-12-03 12:00:00.000000', salt = NULL,"
            " customer_id = NULL WHERE id = ?",
            (target.id,),
        )
        db.execute("DELETE FROM breach_sightings WHERE breach_id = ?", (breach.id,))
        db.execute("DELETE FROM breaches WHERE id = ?", (breach.id,))

    problem = h.verify().first_problem

    assert problem is not None
    assert ("breach", breach.id, target.id) == (
        problem.record_kind,
        problem.record_id,
        problem.link_id,
    )
    assert "marked purged, but no purge or erasure is recorded" in problem.what


def test_a_purged_link_is_still_checked_for_its_place(h: ChainHarness) -> None:
    purge(h, "NV-2")
    purged = next(row for row in links(h) if row.purged_at is not None)
    with h.tamper() as db:
        db.execute("DELETE FROM evidence_links WHERE id = ?", (purged.id,))

    problem = h.verify().first_problem

    assert problem is not None
    assert (purged.id + 1, "the link it follows is missing") == (
        problem.link_id,
        problem.what[: len("the link it follows is missing")],
    )


# -- two writers at once ----------------------------------------------------------------------


def test_two_writers_at_once_wait_for_each_other_and_do_not_fork_the_chain(
    h: ChainHarness,
) -> None:
    """The watcher and a command each add a record at the same moment: the second waits for
    the first to commit, then chains after it."""
    breach = breach_of(h, "NV-1")
    done: list[int] = []
    failed: list[BaseException] = []

    def other_writer() -> None:
        try:
            with h.app.factory.begin() as session:
                contact = m.Contact(
                    customer_id=breach.customer_id,
                    message_id="<second-writer@mail.example>",
                    kind="allowed",
                    mailbox="amelia@homes.example",
                    received_at=h.now,
                    reason="sent by the permitted route",
                )
                session.add(contact)
                session.flush()
                done.append(link(session, contact).id)
        except BaseException as exc:  # reported below
            failed.append(exc)

    with h.app.factory.begin() as session:
        first = m.Contact(
            customer_id=breach.customer_id,
            message_id="<first-writer@mail.example>",
            kind="allowed",
            mailbox="amelia@homes.example",
            received_at=h.now,
            reason="sent by the permitted route",
        )
        session.add(first)
        session.flush()
        first_link = link(session, first)
        thread = threading.Thread(target=other_writer)
        thread.start()
        time.sleep(0.5)
        assert thread.is_alive() and not done  # waiting for this transaction's write lock
    thread.join(timeout=30)

    assert ([], 1) == (failed, len(done))
    chain = links(h)
    assert [first_link.id, done[0]] == [row.id for row in chain[-2:]]
    assert chain[-2].link_hash == chain[-1].prev_hash
    assert h.verify().ok


# -- the 0013 backfill ------------------------------------------------------------------------


def test_the_0013_backfill_chains_earlier_records_and_agrees_with_verify(
    h: ChainHarness,
) -> None:
    """A database from before the chain: the records, no links, at revision 0012."""
    with h.tamper() as db:
        db.execute("DELETE FROM evidence_links")
        db.execute("DROP TABLE former_identifiers")  # what the later migrations add
        db.execute("DROP TABLE expired_copies")
        db.execute("UPDATE alembic_version SET version_num = '0012'")
    assert h.verify().first_problem is not None  # unchained

    build_app(h.config)  # upgrades through 0013: the backfill

    chain = links(h)
    with h.app.factory() as session:
        order = {"breach": 0, "contact": 1, "letter": 2}
        recorded = sorted(
            (row.created_at, order[kind], row.id, kind)
            for kind, model in (("breach", m.Breach), ("contact", m.Contact), ("letter", m.Letter))
            for row in session.scalars(select(model))
        )
    assert [(kind, record_id) for _, _, record_id, kind in recorded] == [
        (row.record_kind, row.record_id) for row in chain
    ]
    assert len({row.salt for row in chain}) == 8
    report = h.verify()
    assert (True, 8) == (report.ok, report.links), report.summary()
    h.breach("NV-2")  # and the application chains on after the backfill
    assert (True, 9) == (h.verify().ok, h.verify().links)


def test_the_breaches_digest_carries_the_head_for_a_later_verify_head(h: ChainHarness) -> None:
    """The DMO's mailbox keeps the head as it was: an anchor outside the database."""
    from zoneinfo import ZoneInfo

    from bot.digests import breaches_facts

    with h.app.factory() as session:
        facts = breaches_facts(session, h.now - timedelta(days=1), h.now, ZoneInfo("Europe/London"))
    report = h.verify()
    assert (report.links, report.head) == (facts["chain_links"], facts["chain_head"])
    code, out, _ = h.cli("evidence", "verify", "--head", facts["chain_head"])
    assert (0, True) == (code, "noted earlier is still in the chain" in out)
