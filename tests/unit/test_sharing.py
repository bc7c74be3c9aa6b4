"""Sharing with the partner council (policy §7): the need-to-know export, the import of the
partner's own arrangements as read-only entries routed like ours, and what refuses them."""

from __future__ import annotations

import csv
import stat
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot import lifecycle
from bot.digests import REVIEWS
from bot.letters import LetterOptions
from bot.letters.service import render_letter
from bot.partner_entries import PartnerEntryError
from bot.register_file import RegisterFileError
from bot.register_service import export_register, import_register, register_rows
from bot.sharing import (
    COLUMNS,
    EndingTooManyError,
    ShareImportResult,
    SharingError,
    export_shared,
    import_shared,
)
from bot.store import models as m
from tests.schedtest import SECRET_NEEDS, SECRET_REASONS, Harness, row

PARTNER = "Northvale Council"
SECRET_CHANGE = "IBEX-CHANGE-4410 stop phoning at night"
FULL_HEADER = (
    "customer_ref,customer_name,customer_emails,spoc_name,spoc_email,cover_name,cover_email,"
    "restricted_to,status,start_date,review_date,representative_emails,channels,contact_hours,"
    "max_contacts,max_issues,acknowledge,spoc_phone,cover_phone,office_visits,reasons,"
    "support_needs,change_required\n"
)
RICH = (
    'R-1,=HYPERLINK("http://x.example"),-jo@mail.example;jo2@mail.example,Sam Spoc,'
    "spoc@homes.example,Cody Cover,cover@homes.example,,active,2026-06-01,2027-03-01,"
    "advocate@mail.example,email;letter,Mon-Fri 09:00-17:00,3/week,2/month,yes,"
    "+44 1632 960000,01632 960001,Only the Market Street office by appointment,"
    f"{SECRET_REASONS},{SECRET_NEEDS},{SECRET_CHANGE}\n"
    "R-2,Wendy Warning,wendy@mail.example,Sam Spoc,spoc@homes.example,,,,warning,2026-06-01,"
    "2027-03-01,,,,,,no,,,,,,\n"
    "R-3,Cease Ceased,cease@mail.example,Sam Spoc,spoc@homes.example,,,,ceased,2026-06-01,"
    "2027-03-01,,,,,,no,,,,,,\n"
    "R-4,Desmond Desist,desmond@mail.example,Sam Spoc,spoc@homes.example,,,,cease_and_desist,"
    "2026-06-01,2027-03-01,,,,,,no,,,,,,\n"
)
TODAY = date(2026, 12, 1)


def ours(tmp_path: Path) -> Harness:
    """Our register: C-1 from the harness and the rich rows above."""
    h = Harness(tmp_path, [row("C-1")])
    (tmp_path / "rich.csv").write_text(FULL_HEADER + RICH)
    import_register(h.app.factory, tmp_path / "rich.csv", staff_addresses=(), staff_domains=())
    return h


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def partner_file(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(COLUMNS))
        writer.writeheader()
        for r in rows:
            writer.writerow({c: r.get(c, "") for c in COLUMNS})
    return path


def partner_row(ref: str, email: str, **extra: str) -> dict[str, str]:
    return {
        "customer_ref": ref,
        "customer_name": f"Partner customer {ref}",
        "customer_emails": email,
        "spoc_name": "Pat Council",
        "spoc_email": "pat@council.example",
        "status": "active",
        "start_date": "2026-06-01",
        "review_date": "2027-03-01",
        "acknowledge": "no",
        **extra,
    }


def import_partner(
    h: Harness,
    path: Path,
    today: date = TODAY,
    *,
    dry_run: bool = False,
    confirm_ending: bool = False,
) -> ShareImportResult:
    return import_shared(
        h.app.factory,
        path,
        partner=PARTNER,
        staff_addresses=h.app.staff_addresses,
        staff_domains=h.app.settings.organisation.staff_domains,
        topics=h.app.settings.topics,
        flag_systems=h.app.settings.flags.systems,
        today=today,
        operator="dmo",
        dry_run=dry_run,
        confirm_ending=confirm_ending,
    )


# -- export -----------------------------------------------------------------------------------


def test_the_export_has_the_agreed_columns_for_arrangements_in_force_only_not_warnings(
    tmp_path: Path,
) -> None:
    h = ours(tmp_path)
    out = tmp_path / "share" / "partner.csv"

    count = export_shared(h.app.factory, out, partner=PARTNER, operator="dmo")

    lines = read(out)
    assert list(COLUMNS) == list(lines[0])
    assert (3, ["C-1", "R-1", "R-4"]) == (count, [r["customer_ref"] for r in lines])
    rich = lines[1]
    assert '\'=HYPERLINK("http://x.example")' == rich["customer_name"]
    assert "'-jo@mail.example;jo2@mail.example" == rich["customer_emails"]
    assert ("'+44 1632 960000", "Cody Cover") == (rich["spoc_phone"], rich["cover_name"])
    assert "spoc@homes.example" == rich["restricted_to"]
    assert ("email;letter", "3/week", "2/month", "yes") == (
        rich["channels"],
        rich["max_contacts"],
        rich["max_issues"],
        rich["acknowledge"],
    )
    # The restrictions in plain words, as the referral form's letters put them.
    assert rich["restrictions"].startswith(
        "All the customer's contact with us must go through Sam Spoc, their single point of "
        "contact. The customer may write only to spoc@homes.example."
    )
    assert "The customer may contact us no more than 3 times a week" in rich["restrictions"]
    assert "Office visits: Only the Market Street office by appointment." in rich["restrictions"]
    assert "acknowledged but not answered" in lines[2]["restrictions"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_the_export_never_holds_reasons_support_needs_or_change_required(tmp_path: Path) -> None:
    h = ours(tmp_path)
    out = tmp_path / "partner.csv"

    export_shared(h.app.factory, out, partner=PARTNER)

    text = out.read_text(encoding="utf-8")
    assert "R-1" in text  # the row with the planted text was exported
    for secret in (SECRET_REASONS, SECRET_NEEDS, SECRET_CHANGE, "ZEBRA", "OKAPI", "IBEX"):
        assert secret not in text


def test_the_export_is_audited_per_customer_naming_the_partner(tmp_path: Path) -> None:
    h = ours(tmp_path)

    export_shared(h.app.factory, tmp_path / "partner.csv", partner=PARTNER, operator="dmo")

    with h.app.factory() as session:
        events = session.scalars(select(m.AuditEvent).where(m.AuditEvent.action.like("share.%")))
        got = [(e.action, e.customer_ref, PARTNER in e.details) for e in events]
    assert [
        ("share.export", "C-1", True),
        ("share.export", "R-1", True),
        ("share.export", "R-4", True),
        ("share.export.summary", None, True),
    ] == got


def test_the_export_refuses_to_overwrite_unless_forced(tmp_path: Path) -> None:
    h = ours(tmp_path)
    out = tmp_path / "partner.csv"
    out.write_text("keep me")

    with pytest.raises(SharingError, match="already exists"):
        export_shared(h.app.factory, out, partner=PARTNER)
    assert "keep me" == out.read_text()
    export_shared(h.app.factory, out, partner=PARTNER, force=True)
    assert "customer_ref" in out.read_text()


def test_the_export_leaves_out_the_partners_own_entries(tmp_path: Path) -> None:
    h = ours(tmp_path)
    import_partner(h, partner_file(tmp_path / "in.csv", [partner_row("P-1", "p1@mail.example")]))

    export_shared(h.app.factory, tmp_path / "partner.csv", partner=PARTNER)

    assert "P-1" not in (tmp_path / "partner.csv").read_text()


# -- round trip -------------------------------------------------------------------------------


MESSAGE = (
    "From: Jo <{sender}>\r\nTo: info@homes.example\r\nSubject: The fence\r\n"
    "Message-ID: <{mid}@mail.example>\r\nDate: Thu, 3 Dec 2026 11:00:00 +0000\r\n"
    "\r\nPlease look at the fence again.\r\n"
)


def test_an_exported_file_imported_by_the_partner_routes_the_same_way(tmp_path: Path) -> None:
    """Round trip: our export, imported into the partner's database, gives the same register
    to the decision core, and the same message is decided and forwarded the same way."""
    for side in ("ours", "theirs"):
        (tmp_path / side).mkdir()
    h = ours(tmp_path / "ours")
    export_shared(h.app.factory, tmp_path / "share.csv", partner=PARTNER)
    theirs = Harness(tmp_path / "theirs", [row("T-1")])

    import_partner(theirs, tmp_path / "share.csv")

    def routed(harness: Harness) -> list[tuple[str, str, str]]:
        with harness.app.factory() as session:
            rows = {r.customer_ref: r for r in register_rows(session)}
        return sorted(
            (ref, str(r.restricted_to), f"{r.channels}{r.contact_hours}{r.max_contacts}")
            for ref, r in rows.items()
            if ref in ("R-1", "R-4")
        )

    assert routed(h) == routed(theirs)
    with theirs.app.factory() as session:
        r1 = next(r for r in register_rows(session) if r.customer_ref == "R-1")
    assert ('=HYPERLINK("http://x.example")', ("-jo@mail.example", "jo2@mail.example")) == (
        r1.customer_name,
        r1.customer_emails,
    )
    assert ("", "", "") == (r1.reasons, r1.support_needs, r1.change_required)
    for harness in (h, theirs):
        harness.at(date(2026, 12, 3), "11:00")
        for n, sender in enumerate(
            ("-jo@mail.example", "advocate@mail.example", "desmond@mail.example")
        ):
            harness.info.deliver(MESSAGE.format(sender=sender, mid=f"m{n}").encode())
        harness.watcher.run_pass()

    def breaches(harness: Harness) -> list[tuple[str, str, str]]:
        with harness.app.factory() as session:
            return sorted(
                (o.customer.ref if o.customer else "", o.recipient_email, o.kind)
                for o in session.scalars(select(m.Outbox))
            )

    assert breaches(h) == breaches(theirs)
    assert ("R-1", "spoc@homes.example", "breach-forward") in breaches(theirs)


def test_a_breach_by_a_partner_customer_is_forwarded_to_the_partners_spoc(tmp_path: Path) -> None:
    h = ours(tmp_path)
    import_partner(h, partner_file(tmp_path / "in.csv", [partner_row("P-1", "p1@mail.example")]))
    h.at(date(2026, 12, 3), "11:00")

    h.info.deliver(MESSAGE.format(sender="p1@mail.example", mid="p1").encode())
    report = h.watcher.run_pass()

    assert 1 == report.new_breaches
    with h.app.factory() as session:
        forward = session.scalars(select(m.Outbox).where(m.Outbox.kind == "breach-forward")).one()
        assert ("P-1", "pat@council.example") == (forward.customer.ref, forward.recipient_email)


# -- import -----------------------------------------------------------------------------------


def test_imported_entries_are_the_partners_with_officers_and_permitted_addresses(
    tmp_path: Path,
) -> None:
    h = ours(tmp_path)
    path = partner_file(
        tmp_path / "in.csv",
        [partner_row("P-1", "p1@mail.example", restricted_to="contact@council.example")],
    )

    result = import_partner(h, path)

    assert ("P-1",) == result.created  # type: ignore[attr-defined]
    with h.app.factory() as session:
        customer = session.scalars(select(m.Customer).where(m.Customer.ref == "P-1")).one()
        assert ("partner", PARTNER) == (customer.source, customer.partner)
        assert customer.arrangement is not None
        assert "pat@council.example" == customer.arrangement.spoc.email
        assert ["contact@council.example"] == [p.address for p in customer.arrangement.permitted]
        actions = [
            (e.action, e.customer_ref)
            for e in session.scalars(
                select(m.AuditEvent).where(m.AuditEvent.action.like("share.%"))
            )
        ]
        assert [("share.import", "P-1"), ("share.import.summary", None)] == actions
        flags = session.scalars(
            select(m.FlagTask.action).where(m.FlagTask.arrangement_id == customer.arrangement.id)
        ).all()
        assert ["raise", "raise"] == flags


def test_every_problem_names_file_row_and_column_and_nothing_is_imported(tmp_path: Path) -> None:
    h = ours(tmp_path)
    path = partner_file(
        tmp_path / "in.csv",
        [
            partner_row("P-1", "p1@mail.example"),
            partner_row("P-2", "not-an-address", start_date="2026-13-01"),
            partner_row("P-3", "p3@mail.example", max_contacts="lots"),
        ],
    )

    with pytest.raises(RegisterFileError) as caught:
        import_partner(h, path)

    where = {(e.row, e.column) for e in caught.value.errors}
    assert {(3, "customer_emails"), (3, "start_date"), (4, "max_contacts")} <= where
    assert all(e.file == str(path) for e in caught.value.errors)
    with h.app.factory() as session:
        assert [] == session.scalars(select(m.Customer).where(m.Customer.source == "partner")).all()


def test_a_customer_address_or_reference_of_ours_is_a_conflict(tmp_path: Path) -> None:
    h = ours(tmp_path)
    path = partner_file(
        tmp_path / "in.csv",
        [
            partner_row("P-1", "c-1@mail.example"),  # our C-1's address
            partner_row("r-2", "other@mail.example"),  # our R-2, in another case
        ],
    )

    with pytest.raises(RegisterFileError) as caught:
        import_partner(h, path)

    messages = {(e.row, e.column): e.message for e in caught.value.errors}
    assert "already belongs to customer C-1" in messages[(2, "customer_emails")]
    assert "the reference of R-2, a customer in our own register" in messages[(3, "customer_ref")]
    with h.app.factory() as session:
        assert [] == session.scalars(select(m.Customer).where(m.Customer.source == "partner")).all()


def test_reimporting_ends_the_arrangements_missing_from_the_new_file(tmp_path: Path) -> None:
    h = ours(tmp_path)
    import_partner(
        h,
        partner_file(
            tmp_path / "in1.csv",
            [partner_row("P-1", "p1@mail.example"), partner_row("P-2", "p2@mail.example")],
        ),
    )

    result = import_partner(
        h,
        partner_file(tmp_path / "in2.csv", [partner_row("P-2", "p2@mail.example")]),
        today=date(2026, 12, 5),
    )

    assert ((), ("P-2",), ("P-1",)) == (result.updated, result.unchanged, result.ended)
    with h.app.factory() as session:
        p1 = session.scalars(select(m.Customer).where(m.Customer.ref == "P-1")).one()
        assert p1.arrangement is not None
        assert ("ceased", date(2026, 12, 5)) == (p1.arrangement.status, p1.arrangement.ended_on)
        assert ["end"] == [e.kind for e in p1.arrangement.events]
        removes = session.scalars(
            select(m.FlagTask.due_on).where(
                m.FlagTask.arrangement_id == p1.arrangement.id, m.FlagTask.action == "remove"
            )
        ).all()
        assert [date(2026, 12, 5)] * 2 == removes


def partner_state(h: Harness) -> list[tuple[str, str, str]]:
    with h.app.factory() as session:
        return [
            (r.customer_ref, r.status.value, r.spoc_phone)
            for r in register_rows(session, source="partner")
        ]


def audit_actions(h: Harness) -> list[str]:
    with h.app.factory() as session:
        return list(session.scalars(select(m.AuditEvent.action).order_by(m.AuditEvent.id)))


def test_a_row_the_file_repeats_exactly_is_unchanged_and_a_changed_one_updated(
    tmp_path: Path,
) -> None:
    h = ours(tmp_path)
    first = [partner_row("P-1", "p1@mail.example"), partner_row("P-2", "p2@mail.example")]
    import_partner(h, partner_file(tmp_path / "in1.csv", first))

    again = import_partner(h, partner_file(tmp_path / "in2.csv", first))
    changed = import_partner(
        h,
        partner_file(
            tmp_path / "in3.csv",
            [first[0], partner_row("P-2", "p2@mail.example", spoc_phone="01632 960999")],
        ),
    )

    assert ((), (), ("P-1", "P-2")) == (again.created, again.updated, again.unchanged)
    assert (("P-2",), ("P-1",)) == (changed.updated, changed.unchanged)
    with h.app.factory() as session:
        summaries = session.scalars(
            select(m.AuditEvent.details).where(m.AuditEvent.action == "share.import.summary")
        ).all()
    assert f"{PARTNER}: 0 new, 1 updated, 1 unchanged, 0 ended" == summaries[-1]


def test_a_file_that_would_end_most_of_the_partners_arrangements_is_refused(
    tmp_path: Path,
) -> None:
    h = ours(tmp_path)
    three = [partner_row(f"P-{n}", f"p{n}@mail.example") for n in (1, 2, 3)]
    import_partner(h, partner_file(tmp_path / "in1.csv", three))
    before, audited = partner_state(h), audit_actions(h)

    with pytest.raises(EndingTooManyError) as caught:
        import_partner(h, partner_file(tmp_path / "short.csv", three[2:]))

    assert (
        f"short.csv would end 2 of {PARTNER}'s 3 arrangement(s) in force (P-1, P-2): nothing "
        f"was imported. If {PARTNER} really ended them, run again with --confirm-ending; "
        "--dry-run shows the whole change"
    ) == str(caught.value)
    assert (before, audited) == (partner_state(h), audit_actions(h))

    result = import_partner(h, partner_file(tmp_path / "short.csv", three[2:]), confirm_ending=True)

    assert ("P-1", "P-2") == result.ended
    assert ["ceased", "ceased", "active"] == [status for _, status, _ in partner_state(h)]


def test_entries_the_file_gives_as_ceased_are_ended_and_count_for_the_guard(
    tmp_path: Path,
) -> None:
    h = ours(tmp_path)
    three = [partner_row(f"P-{n}", f"p{n}@mail.example") for n in (1, 2, 3)]
    import_partner(h, partner_file(tmp_path / "in1.csv", three))
    all_ceased = [{**r, "status": "ceased"} for r in three]

    with pytest.raises(EndingTooManyError, match="would end 3 of"):
        import_partner(h, partner_file(tmp_path / "ceased.csv", all_ceased))
    one_ceased = import_partner(h, partner_file(tmp_path / "one.csv", [all_ceased[0], *three[1:]]))

    assert ((("P-1", "ceased in the new file"),), (), ("P-2", "P-3")) == (
        one_ceased.endings,
        one_ceased.updated,
        one_ceased.unchanged,
    )
    with h.app.factory() as session:
        arrangement_id = session.scalars(
            select(m.Arrangement.id).join(m.Customer).where(m.Customer.ref == "P-1")
        ).one()
        removes = session.scalars(
            select(m.FlagTask.id).where(
                m.FlagTask.arrangement_id == arrangement_id, m.FlagTask.action == "remove"
            )
        ).all()
        ends = session.scalars(
            select(m.ArrangementEvent.notes).where(
                m.ArrangementEvent.arrangement_id == arrangement_id,
                m.ArrangementEvent.kind == "end",
            )
        ).all()
    assert 2 == len(removes)
    assert [f"ceased in {PARTNER}'s shared file (one.csv)"] == ends


def test_a_header_only_file_ends_everything_only_when_confirmed(tmp_path: Path) -> None:
    h = ours(tmp_path)
    import_partner(h, partner_file(tmp_path / "in1.csv", [partner_row("P-1", "p1@mail.example")]))
    empty = partner_file(tmp_path / "empty.csv", [])

    with pytest.raises(EndingTooManyError, match="would end 1 of"):
        import_partner(h, empty)
    result = import_partner(h, empty, confirm_ending=True)

    assert ("P-1",) == result.ended
    assert [("P-1", "ceased", "")] == partner_state(h)
    assert () == import_partner(h, empty).ended  # nothing left in force: nothing to confirm


def test_a_dry_run_says_what_would_change_and_stores_and_audits_nothing(tmp_path: Path) -> None:
    h = ours(tmp_path)
    two = [partner_row("P-1", "p1@mail.example"), partner_row("P-2", "p2@mail.example")]
    import_partner(h, partner_file(tmp_path / "in1.csv", two))
    before, audited = partner_state(h), audit_actions(h)
    with h.app.factory() as session:
        tasks = session.scalar(select(func.count()).select_from(m.FlagTask))
    next_file = partner_file(
        tmp_path / "in2.csv",
        [
            partner_row("P-2", "p2@mail.example", spoc_phone="01632 960999"),
            partner_row("P-3", "p3@mail.example"),
        ],
    )

    result = import_partner(h, next_file, dry_run=True)

    assert (True, ("P-3",), ("P-2",), (), ("P-1",)) == (
        result.dry_run,
        result.created,
        result.updated,
        result.unchanged,
        result.ended,
    )
    assert (before, audited) == (partner_state(h), audit_actions(h))
    with h.app.factory() as session:
        assert tasks == session.scalar(select(func.count()).select_from(m.FlagTask))
    refused = import_partner(
        h, partner_file(tmp_path / "new.csv", [partner_row("P-3", "p3@mail.example")]), dry_run=True
    )  # what the real run would refuse is still shown, with the refusal
    assert (("P-3",), ("P-1", "P-2")) == (refused.created, refused.ended)
    assert refused.refusal is not None and "would end 2 of" in refused.refusal
    assert None is result.refusal


# -- read-only --------------------------------------------------------------------------------


def test_register_import_leaves_partner_entries_alone(tmp_path: Path) -> None:
    h = ours(tmp_path)
    import_partner(h, partner_file(tmp_path / "in.csv", [partner_row("P-1", "p1@mail.example")]))
    (tmp_path / "again.csv").write_text(FULL_HEADER + RICH)

    import_register(h.app.factory, tmp_path / "again.csv", staff_addresses=(), staff_domains=())

    with h.app.factory() as session:
        (p1,) = register_rows(session, source="partner")
    assert ("P-1", "pat@council.example", "active") == (p1.customer_ref, p1.spoc_email, "active")
    export_register(h.app.factory, tmp_path / "ours.csv")
    assert "P-1" not in (tmp_path / "ours.csv").read_text()


def test_register_import_refuses_a_row_for_a_partner_entry(tmp_path: Path) -> None:
    h = ours(tmp_path)
    import_partner(h, partner_file(tmp_path / "in.csv", [partner_row("P-1", "p1@mail.example")]))
    (tmp_path / "takeover.csv").write_text(
        FULL_HEADER
        + "P-1,Someone,someone@mail.example,Sam Spoc,spoc@homes.example,,,,active,2026-06-01,"
        "2027-03-01,,,,,,no,,,,,,\n"
    )

    with pytest.raises(RegisterFileError) as caught:
        import_register(
            h.app.factory, tmp_path / "takeover.csv", staff_addresses=(), staff_domains=()
        )

    (error,) = caught.value.errors
    assert (2, "customer_ref") == (error.row, error.column)
    assert (
        f"P-1 is {PARTNER}'s arrangement, imported by `spocbot share import`; it is read-only here"
    ) == error.message


def test_lifecycle_steps_refuse_a_partner_entry(tmp_path: Path) -> None:
    h = ours(tmp_path)
    import_partner(h, partner_file(tmp_path / "in.csv", [partner_row("P-1", "p1@mail.example")]))

    with pytest.raises(PartnerEntryError, match="P-1 is Northvale Council's arrangement"):
        lifecycle.end(h.app.factory, "p-1", on=TODAY, today=TODAY)
    with pytest.raises(PartnerEntryError, match="read-only here"):
        lifecycle.refer(h.app.factory, "P-1", on=TODAY, today=TODAY)
    assert "P-1" == lifecycle.history(h.app.factory, "P-1")["customer_ref"]  # reading is fine


def test_letters_refuse_a_partner_entry(tmp_path: Path) -> None:
    h = ours(tmp_path)
    import_partner(h, partner_file(tmp_path / "in.csv", [partner_row("P-1", "p1@mail.example")]))

    with pytest.raises(PartnerEntryError, match="read-only here"):
        render_letter(
            h.app.factory,
            h.app.settings,
            "introduction",
            "P-1",
            LetterOptions(as_of=TODAY),
            "eml",
            now=h.now,
            operator="dmo",
        )


def test_the_partners_reviews_are_theirs_no_reminder_or_digest_line_here(tmp_path: Path) -> None:
    h = ours(tmp_path)
    import_partner(
        h,
        partner_file(
            tmp_path / "in.csv", [partner_row("P-1", "p1@mail.example", review_date="2026-12-08")]
        ),
    )
    h.at(date(2026, 12, 7), "09:00")

    h.daemon.reminders.run()
    text = h.daemon.digests.run(REVIEWS).text

    with h.app.factory() as session:
        reminded = session.scalars(
            select(m.Customer.ref)
            .join(m.Arrangement, m.Arrangement.customer_id == m.Customer.id)
            .join(m.Reminder, m.Reminder.arrangement_id == m.Arrangement.id)
        ).all()
    assert "P-1" not in reminded
    assert "P-1 (Partner customer P-1), SPOC" not in text  # no review line
    assert f"Raise the flag in CRM for P-1 (Partner customer P-1), partner: {PARTNER}" in text


def test_a_partner_file_with_reasons_or_support_needs_is_refused_and_nothing_stored(
    tmp_path: Path,
) -> None:
    """We are told the arrangement, not the reasons (need-to-know): a full register export
    sent by mistake must not land its restricted columns in our database."""
    h = ours(tmp_path)
    path = tmp_path / "in.csv"
    row = partner_row("P-1", "p1@mail.example", reasons=SECRET_REASONS, support_needs="x")
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*COLUMNS, "reasons", "support_needs"])
        writer.writeheader()
        writer.writerow(row)

    with pytest.raises(RegisterFileError) as caught:
        import_partner(h, path)

    assert {(1, "reasons"), (1, "support_needs")} == {
        (e.row, e.column) for e in caught.value.errors
    }
    assert "need-to-know" in caught.value.errors[0].message
    with h.app.factory() as session:
        assert [] == session.scalars(select(m.Customer).where(m.Customer.source == "partner")).all()
