"""The lifecycle service (bot.lifecycle) on a real SQLite database: each step, its refusals,
its history and audit, the daily lapse, and how register imports meet recorded steps."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from bot import lifecycle
from bot.lifecycle import AppealOutcome, LifecycleError, ReviewOutcome
from bot.register_service import export_register, import_register, snapshot
from bot.store import db
from bot.store import models as m

TODAY = date(2027, 6, 30)
SPOC = "spoc@homes.example"
HEADER = (
    "customer_ref,customer_name,customer_emails,spoc_name,spoc_email,cover_name,cover_email,"
    "restricted_to,status,start_date,review_date,review_months,lapse_at_review,reasons\n"
)
ROWS = {
    # referred, not yet decided
    "C-1": f"C-1,Casey One,c1@mail.example,Sam Spoc,{SPOC},Chris Cover,cover@homes.example,,"
    "warning,2026-01-01,2027-01-01,6,no,",
    # imported in force, no decision recorded
    "C-2": f"C-2,Casey Two,c2@mail.example,Sam Spoc,{SPOC},Chris Cover,cover@homes.example,,"
    "active,2026-01-05,2026-07-05,6,no,Imported reasons",
    # lapses at its review
    "C-3": f"C-3,Casey Three,c3@mail.example,Sam Spoc,{SPOC},Chris Cover,cover@homes.example,,"
    "active,2026-01-01,2026-06-01,,yes,",
    # ended
    "C-4": f"C-4,Casey Four,c4@mail.example,Sam Spoc,{SPOC},,,,ceased,2026-01-01,2026-07-01,,no,",
    # in force, no cover officer
    "C-5": f"C-5,Casey Five,c5@mail.example,Sam Spoc,{SPOC},,,,active,2026-01-01,2026-07-01,,no,",
}
Factory = sessionmaker[Session]


def import_rows(factory: Factory, path: Path, text: str) -> list[str]:
    path.write_text(text)
    result = import_register(factory, path, staff_addresses=(), staff_domains=())
    return [str(w) for w in result.warnings]


@pytest.fixture
def factory(tmp_path: Path) -> Factory:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    db.upgrade(engine)
    made = db.session_factory(engine)
    import_rows(made, tmp_path / "register.csv", HEADER + "\n".join(ROWS.values()) + "\n")
    return made


def stored(factory: Factory, ref: str) -> m.Arrangement:
    with factory() as session:
        found = session.scalar(
            select(m.Arrangement)
            .join(m.Customer)
            .where(m.Customer.ref == ref)
            .options(selectinload(m.Arrangement.events), selectinload(m.Arrangement.appeals))
        )
        assert found is not None
        return found


def audit_rows(factory: Factory) -> list[tuple[str, str, str]]:
    with factory() as session:
        return [
            (e.action, e.customer_ref or "", e.details)
            for e in session.scalars(select(m.AuditEvent).order_by(m.AuditEvent.id))
            if e.action.startswith("arrangement.")
        ]


def decide(factory: Factory, ref: str = "C-1", **options: object) -> lifecycle.StepResult:
    arguments: dict[str, object] = {
        "agreed": True,
        "on": date(2027, 1, 10),
        "today": TODAY,
        "reasons": "Forty calls in one week to five teams",
        "operator": "dmo",
    }
    arguments.update(options)
    return lifecycle.decide(factory, ref, **arguments)  # type: ignore[arg-type]


def appeal(factory: Factory, ref: str = "C-1", **options: object) -> lifecycle.StepResult:
    arguments: dict[str, object] = {"received": date(2027, 1, 20), "today": TODAY}
    arguments.update(options)
    return lifecycle.appeal(factory, ref, **arguments)  # type: ignore[arg-type]


# -- refer ---------------------------------------------------------------------------------


def test_a_referral_is_recorded_as_an_event(factory: Factory) -> None:
    result = lifecycle.refer(factory, "C-1", on=date(2027, 1, 5), today=TODAY, by="Officer A")

    assert ("referral", date(2027, 1, 5), "Officer A") == (
        stored(factory, "C-1").events[-1].kind,
        stored(factory, "C-1").events[-1].on,
        stored(factory, "C-1").events[-1].decided_by,
    )
    assert "warning" == result.status


def test_an_unknown_customer_is_refused(factory: Factory) -> None:
    with pytest.raises(LifecycleError, match="no customer C-9 in the register"):
        lifecycle.refer(factory, "C-9", on=date(2027, 1, 5), today=TODAY)


def test_a_customer_is_found_ignoring_case(factory: Factory) -> None:
    assert "C-1" == lifecycle.refer(factory, "c-1", on=date(2027, 1, 5), today=TODAY).customer_ref


def test_a_step_dated_after_today_is_refused(factory: Factory) -> None:
    with pytest.raises(LifecycleError, match="is after today"):
        lifecycle.refer(factory, "C-1", on=date(2027, 7, 1), today=TODAY)


# -- decide --------------------------------------------------------------------------------


def test_an_agreed_decision_puts_the_arrangement_in_force(factory: Factory) -> None:
    decide(factory, review_date=date(2027, 7, 10), change_required="Write only to the SPOC")

    a = stored(factory, "C-1")
    assert (
        "active",
        date(2027, 1, 10),
        date(2027, 1, 10),
        date(2027, 7, 10),
        "Forty calls in one week to five teams",
        "Write only to the SPOC",
    ) == (a.status, a.decided_on, a.start_date, a.review_date, a.reasons, a.change_required)


def test_a_decision_gives_the_appeal_deadline_28_days_later(factory: Factory) -> None:
    assert date(2027, 2, 7) == decide(factory, review_months=6).appeal_deadline


def test_review_months_set_the_review_date(factory: Factory) -> None:
    assert date(2027, 4, 10) == decide(factory, review_months=3).review_date


def test_without_a_review_date_the_registers_review_months_apply(factory: Factory) -> None:
    assert date(2027, 7, 10) == decide(factory).review_date  # C-1 has review_months 6


def test_without_a_review_date_or_months_the_decision_is_refused(factory: Factory) -> None:
    lifecycle.end(factory, "C-3", on=date(2026, 5, 1), today=TODAY)  # C-3 has no months

    with pytest.raises(LifecycleError, match="give --review-date or --review-months"):
        decide(factory, "C-3")


def test_a_review_date_beyond_12_months_is_refused(factory: Factory) -> None:
    with pytest.raises(LifecycleError, match="must be 3 to 12 months after 2027-01-10"):
        decide(factory, review_date=date(2028, 1, 11))


def test_review_months_outside_3_to_12_are_refused(factory: Factory) -> None:
    with pytest.raises(LifecycleError, match="reviews are every 3 to 12 months"):
        decide(factory, review_months=2)


def test_an_agreed_decision_needs_reasons(factory: Factory) -> None:
    with pytest.raises(LifecycleError, match="give the reasons"):
        decide(factory, reasons="  ")


def test_a_start_before_the_decision_is_refused(factory: Factory) -> None:
    with pytest.raises(LifecycleError, match="before the decision"):
        decide(factory, start=date(2027, 1, 9))


def test_a_later_start_date_is_kept(factory: Factory) -> None:
    decide(factory, start=date(2027, 1, 17))

    assert date(2027, 1, 17) == stored(factory, "C-1").start_date


def test_deciding_on_an_arrangement_in_force_is_refused(factory: Factory) -> None:
    with pytest.raises(LifecycleError, match=r"already in force .* record a review instead"):
        decide(factory, "C-2")


def test_a_decision_not_agreed_leaves_the_status(factory: Factory) -> None:
    decide(factory, agreed=False, reasons="")

    a = stored(factory, "C-1")
    assert ("warning", "not_agreed", None) == (a.status, a.events[-1].outcome, a.decided_on)


def test_the_decision_event_keeps_the_reasons_and_review(factory: Factory) -> None:
    decide(factory)

    event = stored(factory, "C-1").events[-1]
    assert ("decision", "agreed", date(2027, 7, 10), "Forty calls in one week to five teams") == (
        event.kind,
        event.outcome,
        event.next_review,
        event.reasons,
    )


def test_the_audit_log_never_holds_the_reasons(factory: Factory) -> None:
    decide(factory, by="Panel")

    assert [
        (
            "arrangement.decide",
            "C-1",
            "agreed on 2027-01-10 by Panel; starts 2027-01-10; review 2027-07-10",
        )
    ] == audit_rows(factory)


def test_the_audit_record_names_the_arrangement(factory: Factory) -> None:
    result = decide(factory)

    with factory() as session:
        records = session.scalars(select(m.AuditEvent.record)).all()
    assert f"arrangement:{result.arrangement_id}" == records[-1]


# -- review --------------------------------------------------------------------------------


def review(factory: Factory, ref: str = "C-2", **options: object) -> lifecycle.StepResult:
    arguments: dict[str, object] = {
        "outcome": ReviewOutcome.CONTINUED,
        "on": date(2026, 7, 5),
        "today": TODAY,
    }
    arguments.update(options)
    return lifecycle.review(factory, ref, **arguments)  # type: ignore[arg-type]


def test_a_continued_review_sets_the_next_review_and_the_decision_date(factory: Factory) -> None:
    review(factory, next_review=date(2027, 1, 5))

    a = stored(factory, "C-2")
    assert (date(2027, 1, 5), date(2026, 7, 5), "active") == (a.review_date, a.decided_on, a.status)


def test_the_next_review_defaults_to_the_review_months(factory: Factory) -> None:
    assert date(2027, 1, 5) == review(factory).review_date


def test_a_review_outcome_can_be_appealed_within_28_days(factory: Factory) -> None:
    assert date(2026, 8, 2) == review(factory, outcome=ReviewOutcome.VARIED).appeal_deadline


def test_a_next_review_under_3_months_is_refused(factory: Factory) -> None:
    with pytest.raises(LifecycleError, match="must be 3 to 12 months after 2026-07-05"):
        review(factory, next_review=date(2026, 9, 1))


def test_a_continued_review_without_months_or_date_is_refused(factory: Factory) -> None:
    with pytest.raises(LifecycleError, match="give --next-review"):
        review(factory, "C-5")


def test_a_review_that_ends_the_arrangement_ceases_it(factory: Factory) -> None:
    review(factory, outcome=ReviewOutcome.ENDED)

    a = stored(factory, "C-2")
    assert ("ceased", date(2026, 7, 5)) == (a.status, a.ended_on)


def test_reviewing_an_ended_arrangement_is_refused(factory: Factory) -> None:
    with pytest.raises(LifecycleError, match=r"has ended on [0-9-]+: cannot review it"):
        review(factory, "C-4")


def test_reviewing_at_the_warning_stage_is_refused(factory: Factory) -> None:
    with pytest.raises(LifecycleError, match="warning stage: no arrangement is in force"):
        review(factory, "C-1")


def test_a_review_before_the_decision_in_force_is_refused(factory: Factory) -> None:
    decide(factory)

    with pytest.raises(LifecycleError, match="before the decision in force"):
        review(factory, "C-1", on=date(2027, 1, 9))


# -- appeal --------------------------------------------------------------------------------


def test_an_appeal_is_due_for_decision_5_working_days_after_receipt(factory: Factory) -> None:
    decide(factory)

    result = appeal(factory)  # Wednesday 20 January 2027

    assert (date(2027, 2, 7), date(2027, 1, 27)) == (result.appeal_deadline, result.decision_due)


def test_an_appeal_received_before_christmas_2026_is_due_after_it(factory: Factory) -> None:
    review(factory, on=date(2026, 12, 1), next_review=date(2027, 6, 1))

    assert date(2026, 12, 29) == appeal(factory, "C-2", received=date(2026, 12, 18)).decision_due


def test_an_appeal_without_a_recorded_decision_counts_from_the_start(factory: Factory) -> None:
    result = appeal(factory, "C-2", received=date(2026, 1, 20))

    assert (date(2026, 2, 2), True) == (
        result.appeal_deadline,
        "counted from its start date (2026-01-05)" in result.notes[0],
    )


def test_an_appeal_after_the_deadline_is_refused(factory: Factory) -> None:
    decide(factory)

    with pytest.raises(LifecycleError, match="after the deadline of 2027-02-07"):
        appeal(factory, received=date(2027, 2, 8))


def test_a_late_appeal_with_a_reason_is_recorded_as_late(factory: Factory) -> None:
    decide(factory)

    appeal(factory, received=date(2027, 2, 8), late=True, late_reason="In hospital")

    [record] = stored(factory, "C-1").appeals
    assert (True, "In hospital") == (record.late, record.late_reason)


def test_a_late_appeal_needs_a_reason(factory: Factory) -> None:
    decide(factory)

    with pytest.raises(LifecycleError, match="give --reason"):
        appeal(factory, received=date(2027, 2, 8), late=True)


def test_only_one_appeal_is_open_at_a_time(factory: Factory) -> None:
    decide(factory)
    appeal(factory)

    with pytest.raises(LifecycleError, match="appeal 1 received on 2027-01-20 is still open"):
        appeal(factory, received=date(2027, 1, 21))


def test_an_appeal_names_the_decision_it_is_against(factory: Factory) -> None:
    decision = decide(factory)

    appeal(factory)

    assert decision.event_id == stored(factory, "C-1").appeals[0].against_event_id


def test_an_appeal_at_the_warning_stage_is_refused(factory: Factory) -> None:
    with pytest.raises(LifecycleError, match="no decision in force to appeal"):
        appeal(factory)


# -- appeal decision -----------------------------------------------------------------------


def decide_appeal(factory: Factory, **options: object) -> lifecycle.StepResult:
    arguments: dict[str, object] = {
        "outcome": AppealOutcome.DISMISSED,
        "on": date(2027, 1, 25),
        "today": TODAY,
        "by": "Head of Housing",
    }
    arguments.update(options)
    return lifecycle.appeal_decide(factory, "C-1", **arguments)  # type: ignore[arg-type]


def test_a_dismissed_appeal_leaves_the_decision_standing(factory: Factory) -> None:
    decide(factory)
    appeal(factory)

    decide_appeal(factory)

    a = stored(factory, "C-1")
    assert ("active", "decided", "dismissed", "Head of Housing") == (
        a.status,
        a.appeals[0].status,
        a.appeals[0].outcome,
        a.appeals[0].decided_by,
    )


def test_an_upheld_appeal_ends_the_arrangement(factory: Factory) -> None:
    decide(factory)
    appeal(factory)

    decide_appeal(factory, outcome=AppealOutcome.UPHELD)

    a = stored(factory, "C-1")
    assert ("ceased", date(2027, 1, 25)) == (a.status, a.ended_on)


def test_an_appeal_decided_after_its_due_date_says_how_late(factory: Factory) -> None:
    decide(factory)
    appeal(factory)  # due Wednesday 27 January

    result = decide_appeal(factory, on=date(2027, 2, 1))  # Monday: Thu, Fri, Mon

    assert 3 == result.late_working_days


def test_an_appeal_decided_in_time_is_not_late(factory: Factory) -> None:
    decide(factory)
    appeal(factory)

    assert 0 == decide_appeal(factory).late_working_days


def test_deciding_without_an_open_appeal_is_refused(factory: Factory) -> None:
    with pytest.raises(LifecycleError, match="has no open appeal"):
        decide_appeal(factory)


# -- cover notice, cease and desist, end ---------------------------------------------------


def test_a_cover_notice_records_the_cover_officer_and_the_days(factory: Factory) -> None:
    lifecycle.cover_notice(factory, "C-2", starts_on=date(2026, 8, 3), ends_on=date(2026, 8, 14))

    with factory() as session:
        event = session.scalars(select(m.ArrangementEvent)).all()[-1]
        assert ("cover_notice", date(2026, 8, 3), date(2026, 8, 14), "cover@homes.example") == (
            event.kind,
            event.on,
            event.until,
            event.officer.email if event.officer else None,
        )


def test_a_cover_notice_without_a_cover_officer_is_refused(factory: Factory) -> None:
    with pytest.raises(LifecycleError, match="C-5 has no cover officer"):
        lifecycle.cover_notice(
            factory, "C-5", starts_on=date(2026, 8, 3), ends_on=date(2026, 8, 14)
        )


def test_a_cover_notice_may_name_another_officer(factory: Factory) -> None:
    result = lifecycle.cover_notice(
        factory,
        "C-5",
        starts_on=date(2026, 8, 3),
        ends_on=date(2026, 8, 14),
        cover_email="Cover@homes.example",
    )

    assert "Chris Cover <cover@homes.example>" in result.recorded


def test_a_cover_notice_ending_before_it_starts_is_refused(factory: Factory) -> None:
    with pytest.raises(LifecycleError, match="is before --from"):
        lifecycle.cover_notice(factory, "C-2", starts_on=date(2026, 8, 3), ends_on=date(2026, 8, 2))


def test_cease_and_desist_changes_the_status(factory: Factory) -> None:
    lifecycle.cease_and_desist(
        factory, "C-2", on=date(2026, 3, 1), today=TODAY, reasons="Restrictions overridden"
    )

    assert "cease_and_desist" == stored(factory, "C-2").status


def test_cease_and_desist_at_the_warning_stage_is_refused(factory: Factory) -> None:
    with pytest.raises(LifecycleError, match="is warning, not active"):
        lifecycle.cease_and_desist(factory, "C-1", on=date(2026, 3, 1), today=TODAY, reasons="x")


def test_ending_an_arrangement_ceases_it_on_that_day(factory: Factory) -> None:
    lifecycle.end(factory, "C-2", on=date(2026, 3, 1), today=TODAY)

    a = stored(factory, "C-2")
    assert ("ceased", date(2026, 3, 1)) == (a.status, a.ended_on)


def test_ending_an_ended_arrangement_is_refused(factory: Factory) -> None:
    lifecycle.end(factory, "C-2", on=date(2026, 3, 1), today=TODAY)

    with pytest.raises(LifecycleError, match="has ended on 2026-03-01: cannot end it again"):
        lifecycle.end(factory, "C-2", on=date(2026, 3, 2), today=TODAY)


def test_ending_an_imported_ceased_arrangement_records_its_end(factory: Factory) -> None:
    lifecycle.end(factory, "C-4", on=date(2026, 7, 1), today=TODAY)

    a = stored(factory, "C-4")
    assert ("ceased", date(2026, 7, 1), "end") == (a.status, a.ended_on, a.events[-1].kind)


def test_ending_an_imported_ceased_arrangement_says_the_end_is_now_recorded(
    factory: Factory,
) -> None:
    result = lifecycle.end(factory, "C-4", on=date(2026, 7, 1), today=TODAY)

    assert ["it was already ceased in the register with no end recorded"] == [
        n.split(":")[0] for n in result.notes
    ]


def test_a_second_end_of_an_imported_ceased_arrangement_is_refused(factory: Factory) -> None:
    lifecycle.end(factory, "C-4", on=date(2026, 7, 1), today=TODAY)

    with pytest.raises(LifecycleError, match="cannot end it again"):
        lifecycle.end(factory, "C-4", on=date(2026, 7, 2), today=TODAY)


def test_ending_says_to_remove_the_system_flags(factory: Factory) -> None:
    result = lifecycle.end(factory, "C-2", on=date(2026, 3, 1), today=TODAY)

    assert result.recorded.endswith(lifecycle.FLAGS_NOTE)


def test_a_review_that_ends_the_arrangement_says_to_remove_the_system_flags(
    factory: Factory,
) -> None:
    result = review(factory, outcome=ReviewOutcome.ENDED)

    assert [f"the arrangement has ended: {lifecycle.FLAGS_NOTE}"] == list(result.notes)


def test_a_varied_review_says_to_update_the_registers_restrictions_first(
    factory: Factory,
) -> None:
    result = review(factory, outcome=ReviewOutcome.VARIED)

    assert [
        "update the restrictions in the register to match (register import) before "
        "sending the review-outcome letter"
    ] == [n.split(":")[0] for n in result.notes]


def test_an_upheld_appeal_says_to_remove_the_system_flags(factory: Factory) -> None:
    decide(factory)
    appeal(factory)

    result = decide_appeal(factory, outcome=AppealOutcome.UPHELD)

    assert [f"the arrangement has ended: {lifecycle.FLAGS_NOTE}"] == list(result.notes)


def test_a_varied_appeal_says_to_update_the_registers_restrictions_first(
    factory: Factory,
) -> None:
    decide(factory)
    appeal(factory)

    result = decide_appeal(factory, outcome=AppealOutcome.VARIED)

    assert [
        "update the restrictions in the register to match (register import) before "
        "sending the appeal-outcome letter"
    ] == [n.split(":")[0] for n in result.notes]


# -- cover notices and absences --------------------------------------------------------------


def add_absence(factory: Factory, first: date, last: date) -> None:
    with factory.begin() as session:
        officer = session.scalars(select(m.Officer).where(m.Officer.email == SPOC)).one()
        session.add(m.OfficerAbsence(officer=officer, starts_on=first, ends_on=last))


def test_a_cover_notice_without_the_spocs_absence_warns(factory: Factory) -> None:
    result = lifecycle.cover_notice(
        factory, "C-2", starts_on=date(2026, 8, 3), ends_on=date(2026, 8, 14)
    )

    assert [
        f"{SPOC} (the SPOC) has no absence recorded for every day from 2026-08-03 to "
        "2026-08-14: mail is routed by `spocbot officer absence add`; record the absence too"
    ] == list(result.warnings)


def test_a_cover_notice_within_the_spocs_absence_does_not_warn(factory: Factory) -> None:
    add_absence(factory, date(2026, 8, 1), date(2026, 8, 7))
    add_absence(factory, date(2026, 8, 8), date(2026, 8, 20))

    result = lifecycle.cover_notice(
        factory, "C-2", starts_on=date(2026, 8, 3), ends_on=date(2026, 8, 14)
    )

    assert () == result.warnings


def test_a_cover_notice_with_a_gap_in_the_spocs_absence_warns(factory: Factory) -> None:
    add_absence(factory, date(2026, 8, 1), date(2026, 8, 7))
    add_absence(factory, date(2026, 8, 10), date(2026, 8, 20))

    result = lifecycle.cover_notice(
        factory, "C-2", starts_on=date(2026, 8, 3), ends_on=date(2026, 8, 14)
    )

    assert 1 == len(result.warnings)


def test_a_cover_notice_is_still_recorded_when_it_warns(factory: Factory) -> None:
    lifecycle.cover_notice(factory, "C-2", starts_on=date(2026, 8, 3), ends_on=date(2026, 8, 14))

    assert "cover_notice" == stored(factory, "C-2").events[-1].kind


# -- the decision in force and the appeal window ---------------------------------------------


def in_force(factory: Factory, ref: str) -> lifecycle.DecisionInForce:
    return lifecycle.decision_in_force(stored(factory, ref))


def cease(factory: Factory, ref: str = "C-2", on: date = date(2026, 11, 20)) -> None:
    lifecycle.cease_and_desist(factory, ref, on=on, today=TODAY, reasons="Overrode the SPOC")


def test_with_nothing_recorded_the_decision_in_force_is_the_start(factory: Factory) -> None:
    found = in_force(factory, "C-2")

    assert (lifecycle.DecisionKind.START, date(2026, 1, 5), True) == (
        found.kind,
        found.on,
        found.counted_from_start,
    )


def test_the_decision_in_force_is_the_decision(factory: Factory) -> None:
    decide(factory)

    found = in_force(factory, "C-1")
    assert (lifecycle.DecisionKind.DECISION, date(2027, 2, 7)) == (found.kind, found.deadline)


def test_the_registers_decided_on_is_the_decision_in_force(
    factory: Factory, tmp_path: Path
) -> None:
    import_rows(
        factory,
        tmp_path / "r.csv",
        HEADER.replace(",reasons\n", ",reasons,decided_on\n") + ROWS["C-2"] + ",2026-01-05\n",
    )

    assert (lifecycle.DecisionKind.DECISION, date(2026, 1, 5)) == (
        in_force(factory, "C-2").kind,
        in_force(factory, "C-2").on,
    )


def test_a_later_review_is_the_decision_in_force(factory: Factory) -> None:
    decide(factory)
    review(factory, "C-1", on=date(2027, 4, 1), next_review=date(2027, 10, 1))

    found = in_force(factory, "C-1")
    assert (lifecycle.DecisionKind.REVIEW, date(2027, 4, 29)) == (found.kind, found.deadline)


def test_a_cease_and_desist_is_the_decision_in_force(factory: Factory) -> None:
    cease(factory)

    found = in_force(factory, "C-2")
    assert (lifecycle.DecisionKind.CEASE_AND_DESIST, date(2026, 12, 18)) == (
        found.kind,
        found.deadline,
    )


def test_a_cease_and_desist_leaves_decided_on_as_it_was(factory: Factory) -> None:
    cease(factory)

    assert None is stored(factory, "C-2").decided_on


def test_a_cease_and_desist_gives_its_appeal_deadline(factory: Factory) -> None:
    result = lifecycle.cease_and_desist(
        factory, "C-2", on=date(2026, 11, 20), today=TODAY, reasons="Overrode the SPOC"
    )

    assert date(2026, 12, 18) == result.appeal_deadline


def test_an_appeal_outcome_cannot_be_appealed(factory: Factory) -> None:
    decide(factory)
    appeal(factory)
    decide_appeal(factory)

    found = in_force(factory, "C-1")
    assert (lifecycle.DecisionKind.APPEAL, False, None) == (
        found.kind,
        found.appealable,
        found.deadline,
    )


def test_a_review_after_an_appeal_outcome_can_be_appealed(factory: Factory) -> None:
    decide(factory)
    appeal(factory)
    decide_appeal(factory)
    review(factory, "C-1", on=date(2027, 4, 1), next_review=date(2027, 10, 1))

    assert date(2027, 4, 29) == in_force(factory, "C-1").deadline


def test_an_appeal_within_28_days_of_a_cease_and_desist_is_in_time(factory: Factory) -> None:
    cease(factory)

    result = appeal(factory, "C-2", received=date(2026, 12, 2))

    assert (date(2026, 12, 18), ()) == (result.appeal_deadline, result.notes)


def test_an_appeal_against_a_cease_and_desist_names_it(factory: Factory) -> None:
    cease(factory)

    appeal(factory, "C-2", received=date(2026, 12, 2))

    a = stored(factory, "C-2")
    assert (a.events[-2].id, date(2026, 11, 20)) == (
        a.appeals[0].against_event_id,
        a.appeals[0].decision_on,
    )


def test_a_second_appeal_after_an_appeal_outcome_is_refused(factory: Factory) -> None:
    decide(factory)
    appeal(factory)
    decide_appeal(factory)

    with pytest.raises(LifecycleError, match="complaints procedure, then the Housing Ombudsman"):
        appeal(factory, received=date(2027, 1, 26))


def test_a_cease_and_desist_before_the_decision_in_force_is_refused(factory: Factory) -> None:
    decide(factory)

    with pytest.raises(LifecycleError, match="before the decision in force"):
        cease(factory, "C-1", on=date(2027, 1, 9))


def test_a_review_before_a_cease_and_desist_is_refused(factory: Factory) -> None:
    cease(factory)

    with pytest.raises(LifecycleError, match=r"in force \(the cease and desist"):
        review(factory, on=date(2026, 11, 19))


def test_a_cease_and_desist_keeps_the_register_importable(factory: Factory, tmp_path: Path) -> None:
    decide(factory, review_date=date(2027, 7, 10))
    cease(factory, "C-1", on=date(2027, 6, 1))
    export_register(factory, tmp_path / "out.csv")

    import_rows(factory, tmp_path / "out.csv", (tmp_path / "out.csv").read_text())

    assert "cease_and_desist" == stored(factory, "C-1").status


# -- text given to the steps -----------------------------------------------------------------


def test_reasons_with_a_control_character_are_refused(factory: Factory) -> None:
    with pytest.raises(LifecycleError) as refused:
        decide(factory, reasons="Sent 40 emails\x01 in a week")

    assert "the reasons: contains a control character (U+0001, character 15); remove it" == str(
        refused.value
    )


def test_reasons_over_several_lines_are_kept(factory: Factory) -> None:
    decide(factory, reasons="Forty calls.\r\nFive teams.")

    assert "Forty calls.\nFive teams." == stored(factory, "C-1").reasons


def test_a_change_required_longer_than_the_registers_limit_is_refused(factory: Factory) -> None:
    with pytest.raises(LifecycleError, match="the change required: longer than 2000 characters"):
        decide(factory, change_required="x" * 2001)


def test_notes_with_a_control_character_are_refused(factory: Factory) -> None:
    with pytest.raises(LifecycleError, match="the notes: contains a control character"):
        lifecycle.refer(factory, "C-1", on=date(2027, 1, 5), today=TODAY, notes="a\x1bb")


def test_a_decider_name_over_two_lines_is_refused(factory: Factory) -> None:
    with pytest.raises(LifecycleError, match="--by: contains a line break"):
        lifecycle.refer(factory, "C-1", on=date(2027, 1, 5), today=TODAY, by="Al\nBcc")


def test_cease_and_desist_reasons_with_a_control_character_are_refused(
    factory: Factory,
) -> None:
    with pytest.raises(LifecycleError, match="the reasons: contains a control character"):
        lifecycle.cease_and_desist(factory, "C-2", on=date(2026, 3, 1), today=TODAY, reasons="\x07")


# -- history -------------------------------------------------------------------------------


def test_history_leaves_out_the_reasons_unless_asked(factory: Factory) -> None:
    decide(factory)

    found = lifecycle.history(factory, "C-1")

    assert (False, False) == ("reasons" in found, "reasons" in found["events"][0])


def late_appeal(factory: Factory) -> None:
    decide(factory)
    appeal(factory, received=date(2027, 2, 8), late=True, late_reason="In hospital")


def test_history_leaves_out_why_a_late_appeal_was_accepted(factory: Factory) -> None:
    late_appeal(factory)

    assert "late_reason" not in lifecycle.history(factory, "C-1")["appeals"][0]


def test_history_with_reasons_shows_why_a_late_appeal_was_accepted(factory: Factory) -> None:
    late_appeal(factory)

    found = lifecycle.history(factory, "C-1", include_reasons=True, operator="dmo")
    assert "In hospital" == found["appeals"][0]["late_reason"]


def test_history_with_reasons_shows_them_and_is_audited(factory: Factory) -> None:
    decide(factory)

    found = lifecycle.history(factory, "C-1", include_reasons=True, operator="dmo")

    assert "Forty calls in one week to five teams" == found["events"][0]["reasons"]
    assert ("arrangement.history.restricted", "C-1", "with reasons") == audit_rows(factory)[-1]


def test_history_lists_appeals_with_their_dates(factory: Factory) -> None:
    decide(factory)
    appeal(factory)

    [found] = lifecycle.history(factory, "C-1")["appeals"]

    assert ("2027-01-20", "2027-02-07", "2027-01-27", "open") == (
        found["received_on"],
        found["deadline"],
        found["decision_due"],
        found["status"],
    )


# -- lapse ---------------------------------------------------------------------------------


def test_an_arrangement_that_lapses_at_review_ends_on_its_review_date(factory: Factory) -> None:
    [result] = lifecycle.lapse_due(factory, date(2026, 6, 3))

    a = stored(factory, "C-3")
    assert ("C-3", "ceased", date(2026, 6, 1), "lapsed") == (
        result.customer_ref,
        a.status,
        a.ended_on,
        a.events[-1].kind,
    )


def test_lapsing_twice_does_nothing_the_second_time(factory: Factory) -> None:
    lifecycle.lapse_due(factory, date(2026, 6, 3))

    assert [] == lifecycle.lapse_due(factory, date(2026, 6, 4))


def test_nothing_lapses_before_its_review_date(factory: Factory) -> None:
    assert [] == lifecycle.lapse_due(factory, date(2026, 5, 31))


def test_a_lapse_is_audited_as_the_service(factory: Factory) -> None:
    lifecycle.lapse_due(factory, date(2026, 6, 3))

    with factory() as session:
        event = session.scalars(select(m.AuditEvent).order_by(m.AuditEvent.id.desc())).first()
    assert event is not None
    assert ("spocbot", "arrangement.lapse", "lapsed at its review on 2026-06-01") == (
        event.operator,
        event.action,
        event.details,
    )


def test_the_core_sees_when_an_arrangement_lapses(factory: Factory) -> None:
    with factory() as session:
        register = snapshot(session, ())
    by_ref = {a.customer_ref: a.lapses_on for a in register.arrangements}
    assert (date(2026, 6, 1), None) == (by_ref["C-3"], by_ref["C-2"])


# -- register imports and recorded steps ---------------------------------------------------


def test_a_file_without_the_reasons_column_keeps_the_stored_reasons(
    factory: Factory, tmp_path: Path
) -> None:
    header = HEADER.replace(",reasons\n", "\n")
    row = ROWS["C-2"].removesuffix(",Imported reasons").replace("Casey Two", "Casey Renamed")

    import_rows(factory, tmp_path / "r.csv", header + row + "\n")

    assert ("Casey Renamed", "Imported reasons") == (
        stored_name(factory, "C-2"),
        stored(factory, "C-2").reasons,
    )


def stored_name(factory: Factory, ref: str) -> str:
    with factory() as session:
        name = session.scalar(select(m.Customer.name).where(m.Customer.ref == ref))
        assert name is not None
        return name


def test_an_empty_reasons_cell_clears_the_reasons(factory: Factory, tmp_path: Path) -> None:
    import_rows(factory, tmp_path / "r.csv", HEADER + ROWS["C-2"].replace("Imported reasons", ""))

    assert "" == stored(factory, "C-2").reasons


def test_a_need_to_know_export_re_imported_keeps_the_reasons(
    factory: Factory, tmp_path: Path
) -> None:
    exported = tmp_path / "export.csv"
    export_register(factory, exported)

    import_rows(factory, tmp_path / "again.csv", exported.read_text())

    assert ("reasons" in exported.read_text(), "Imported reasons") == (
        False,
        stored(factory, "C-2").reasons,
    )


def test_an_export_with_reasons_is_audited(factory: Factory, tmp_path: Path) -> None:
    export_register(factory, tmp_path / "export.csv", include_reasons=True, operator="dmo")

    with factory() as session:
        actions = session.scalars(select(m.AuditEvent.action)).all()
    assert "register.export.restricted" == actions[-1]


def test_an_import_moving_a_review_date_before_a_recorded_review_warns(
    factory: Factory, tmp_path: Path
) -> None:
    review(factory, next_review=date(2027, 1, 5))
    path = tmp_path / "r.csv"

    warnings = import_rows(factory, path, HEADER + ROWS["C-2"].replace("2026-07-05", "2026-12-01"))

    assert [
        f"{path}:2:review_date: 2026-12-01 is earlier than 2027-01-05, the review date set by "
        "the review recorded on 2026-07-05: the file's date is imported; check that it is meant"
    ] == [w for w in warnings if ":review_date:" in w and "earlier" in w]


def test_an_import_making_an_ended_arrangement_active_warns(
    factory: Factory, tmp_path: Path
) -> None:
    lifecycle.end(factory, "C-2", on=date(2026, 3, 1), today=TODAY)
    path = tmp_path / "r.csv"

    warnings = import_rows(factory, path, HEADER + ROWS["C-2"])

    assert [
        f"{path}:2:status: the arrangement ended on 2026-03-01 (see `spocbot arrangement history "
        "C-2`); this file makes it active again: check that it is meant"
    ] == [w for w in warnings if ":status:" in w]


def test_an_import_of_an_ended_arrangement_as_ceased_does_not_warn(
    factory: Factory, tmp_path: Path
) -> None:
    lifecycle.end(factory, "C-2", on=date(2026, 3, 1), today=TODAY)

    warnings = import_rows(
        factory, tmp_path / "r.csv", HEADER + ROWS["C-2"].replace(",active,", ",ceased,")
    )

    assert [] == [w for w in warnings if ":status:" in w]


def test_a_review_while_an_appeal_is_open_is_refused_until_the_appeal_is_decided(
    factory: Factory,
) -> None:
    """Otherwise deciding the older appeal would replace the review as the decision in force,
    and the review letter's appeal date would no longer be accepted."""
    decide(factory)
    appeal(factory)

    with pytest.raises(LifecycleError, match="decide it first with `spocbot arrangement"):
        lifecycle.review(
            factory,
            "C-1",
            outcome=ReviewOutcome.CONTINUED,
            on=date(2027, 1, 22),
            today=TODAY,
            next_review=date(2027, 7, 22),
        )


def test_a_cover_notice_naming_another_officer_warns_that_mail_goes_to_the_registers_cover(
    factory: Factory,
) -> None:
    add_absence(factory, date(2026, 8, 1), date(2026, 8, 20))
    with factory.begin() as session:
        session.add(m.Officer(name="Olive Other", email="olive@homes.example"))

    result = lifecycle.cover_notice(
        factory,
        "C-2",
        starts_on=date(2026, 8, 3),
        ends_on=date(2026, 8, 14),
        cover_email="olive@homes.example",
    )

    assert [
        "mail the customer sends while the SPOC is away is routed to cover@homes.example (the "
        "register's cover officer), not olive@homes.example: change cover_email in the "
        "register if they should receive it"
    ] == list(result.warnings)


def test_ending_an_imported_ceased_arrangement_before_it_started_is_refused(
    factory: Factory,
) -> None:
    with pytest.raises(LifecycleError, match="before the arrangement started"):
        lifecycle.end(factory, "C-4", on=date(2025, 12, 1), today=TODAY)
