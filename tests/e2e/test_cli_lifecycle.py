"""``spocbot arrangement ...`` end to end: each verb prints what it recorded and the dates that
follow; each impossible step is a clear error with exit status 1; reasons stay need-to-know."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.e2e.test_cli import cli, register_json, run  # noqa: F401 (cli is a fixture)

Cli = tuple[CliRunner, Path]
HEADER = (
    "customer_ref,customer_name,customer_emails,spoc_name,spoc_email,cover_name,cover_email,"
    "restricted_to,status,start_date,review_date,review_months,reasons,support_needs\n"
)
REGISTER = HEADER + (
    "C-1,Casey One,c1@mail.example,Sam Spoc,spoc@homes.example,Chris Cover,cover@homes.example,,"
    "warning,2026-01-01,2027-01-01,6,,\n"
    "C-2,Casey Two,c2@mail.example,Sam Spoc,spoc@homes.example,,,,"
    "active,2026-01-05,2026-07-05,6,Ninety emails to the repairs team in a month,Hard of hearing\n"
)
VERBS = (
    "refer",
    "decide",
    "review",
    "appeal",
    "appeal-decide",
    "cover-notice",
    "cease-and-desist",
    "end",
    "history",
)


@pytest.fixture
def registered(cli: Cli) -> Cli:  # noqa: F811
    (cli[1] / "register.csv").write_text(REGISTER)
    code, _, err = run(cli, "register", "import", str(cli[1] / "register.csv"))
    assert 0 == code, err
    return cli


def decide_c1(runner: Cli, *extra: str) -> tuple[int, str, str]:
    return run(
        runner,
        "arrangement",
        "decide",
        "C-1",
        "--agreed",
        "--reasons",
        "Forty calls in one week to five teams",
        "--change-required",
        "Write only to the SPOC",
        "--on",
        "2026-01-12",
        *extra,
    )


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_has_help_with_an_operator_option(registered: Cli, verb: str) -> None:
    code, out, _ = run(registered, "arrangement", verb, "--help")

    assert (0, True) == (code, "--operator" in out)


def test_refer_prints_what_was_recorded(registered: Cli) -> None:
    code, out, _ = run(
        registered, "arrangement", "refer", "C-1", "--on", "2026-01-05", "--by", "Al"
    )

    assert (0, "Recorded for C-1: referral to the DMO on 2026-01-05 by Al.") == (
        code,
        out.splitlines()[0],
    )


def test_decide_prints_the_review_date_and_appeal_deadline_with_weekdays(registered: Cli) -> None:
    code, out, _ = decide_c1(registered, "--review-months", "6")

    assert 0 == code
    assert "  review date: Sunday 12 July 2026 (2026-07-12)" in out.splitlines()
    assert "  appeal deadline: Monday 9 February 2026 (2026-02-09)" in out.splitlines()


def test_decide_reads_the_reasons_from_a_file(registered: Cli) -> None:
    reasons = registered[1] / "reasons.txt"
    reasons.write_text("Sixty messages in one week\n", encoding="utf-8")

    code, _, err = run(
        registered,
        *("arrangement", "decide", "C-1", "--agreed", "--reasons-file", str(reasons)),
        *("--on", "2026-01-12"),
    )
    history = json.loads(
        run(registered, "arrangement", "history", "C-1", "--json", "--include-reasons")[1]
    )

    assert (0, "Sixty messages in one week") == (code, history["reasons"]), err


def test_decide_with_reasons_and_a_reasons_file_is_a_usage_error(registered: Cli) -> None:
    reasons = registered[1] / "reasons.txt"
    reasons.write_text("x")

    code, _, err = decide_c1(registered, "--reasons-file", str(reasons))

    assert (2, True) == (code, "give --reasons or --reasons-file, not both" in err)


def test_deciding_an_arrangement_in_force_is_refused_with_exit_1(registered: Cli) -> None:
    code, _, err = run(
        registered,
        "arrangement",
        "decide",
        "C-2",
        "--agreed",
        "--reasons",
        "x",
        "--on",
        "2026-02-01",
    )

    assert (1, True) == (code, "record a review instead" in err)


def test_agreed_without_reasons_is_refused(registered: Cli) -> None:
    code, _, err = run(registered, "arrangement", "decide", "C-1", "--agreed", "--on", "2026-01-12")

    assert (1, True) == (code, "give the reasons for the decision" in err)


def test_review_prints_the_next_review(registered: Cli) -> None:
    code, out, _ = run(
        registered,
        *("arrangement", "review", "C-2", "--outcome", "continued", "--on", "2026-07-01"),
    )

    assert (0, True) == (code, "  review date: Friday 1 January 2027 (2027-01-01)" in out)


def test_a_review_with_a_next_review_too_soon_is_refused(registered: Cli) -> None:
    code, _, err = run(
        registered,
        *("arrangement", "review", "C-2", "--outcome", "varied", "--on", "2026-07-01"),
        *("--next-review", "2026-08-01"),
    )

    assert (1, True) == (code, "must be 3 to 12 months after 2026-07-01" in err)


def test_reviewing_an_ended_arrangement_is_refused(registered: Cli) -> None:
    run(registered, "arrangement", "end", "C-2", "--on", "2026-03-01")

    code, _, err = run(
        registered, "arrangement", "review", "C-2", "--outcome", "continued", "--on", "2026-07-01"
    )

    assert (1, True) == (code, "has ended on 2026-03-01: cannot review it" in err)


def test_appeal_prints_when_its_decision_is_due(registered: Cli) -> None:
    decide_c1(registered)

    code, out, _ = run(registered, "arrangement", "appeal", "C-1", "--received", "2026-01-16")

    assert (0, True) == (code, "  appeal decision due: Friday 23 January 2026 (2026-01-23)" in out)


def test_appeal_without_a_recorded_decision_says_it_counts_from_the_start(
    registered: Cli,
) -> None:
    code, out, _ = run(registered, "arrangement", "appeal", "C-2", "--received", "2026-01-20")

    assert (0, True) == (code, "counted from its start date (2026-01-05)" in out)


def test_a_late_appeal_is_refused_without_late(registered: Cli) -> None:
    decide_c1(registered)

    code, _, err = run(registered, "arrangement", "appeal", "C-1", "--received", "2026-02-10")

    assert (1, True) == (code, "give --late with --reason TEXT" in err)


def test_a_late_appeal_is_accepted_with_a_reason(registered: Cli) -> None:
    decide_c1(registered)

    code, out, _ = run(
        registered,
        *("arrangement", "appeal", "C-1", "--received", "2026-02-10"),
        *("--late", "--reason", "Letter went to an old address"),
    )

    assert (0, True) == (code, "accepted late: received 1 day(s) late" in out)


def test_a_second_open_appeal_is_refused(registered: Cli) -> None:
    decide_c1(registered)
    run(registered, "arrangement", "appeal", "C-1", "--received", "2026-01-16")

    code, _, err = run(registered, "arrangement", "appeal", "C-1", "--received", "2026-01-17")

    assert (1, True) == (code, "is still open" in err)


def test_appeal_decide_upheld_ends_the_arrangement(registered: Cli) -> None:
    decide_c1(registered)
    run(registered, "arrangement", "appeal", "C-1", "--received", "2026-01-16")

    code, out, _ = run(
        registered,
        *("arrangement", "appeal-decide", "C-1", "--outcome", "upheld", "--on", "2026-01-20"),
    )

    assert (0, "  status: ceased") == (code, out.splitlines()[1])


def test_appeal_decided_late_warns_how_many_working_days(registered: Cli) -> None:
    decide_c1(registered)
    run(registered, "arrangement", "appeal", "C-1", "--received", "2026-01-16")  # due 23 Jan

    code, _, err = run(
        registered,
        *("arrangement", "appeal-decide", "C-1", "--outcome", "dismissed", "--on", "2026-01-27"),
    )

    assert (0, "Warning: decided 2 working day(s) after it was due.") == (code, err.strip())


def test_appeal_decide_without_an_open_appeal_is_refused(registered: Cli) -> None:
    code, _, err = run(
        registered,
        "arrangement",
        "appeal-decide",
        "C-1",
        "--outcome",
        "dismissed",
        "--on",
        "2026-01-27",
    )

    assert (1, True) == (code, "C-1 has no open appeal" in err)


def test_cover_notice_names_the_cover_officer(registered: Cli) -> None:
    decide_c1(registered)

    code, out, _ = run(
        registered,
        "arrangement",
        "cover-notice",
        "C-1",
        "--from",
        "2026-03-02",
        "--to",
        "2026-03-13",
    )

    assert (0, True) == (
        code,
        "Chris Cover <cover@homes.example> deals with the customer's contact" in out,
    )


def test_cover_notice_without_the_spocs_absence_warns(registered: Cli) -> None:
    decide_c1(registered)

    code, _, err = run(
        registered,
        "arrangement",
        "cover-notice",
        "C-1",
        "--from",
        "2026-03-02",
        "--to",
        "2026-03-13",
    )

    assert (0, True) == (code, "record the absence too" in err)


def test_cover_notice_without_a_cover_officer_is_refused(registered: Cli) -> None:
    code, _, err = run(
        registered,
        "arrangement",
        "cover-notice",
        "C-2",
        "--from",
        "2026-03-02",
        "--to",
        "2026-03-13",
    )

    assert (1, True) == (code, "C-2 has no cover officer" in err)


def test_cease_and_desist_prints_the_new_status(registered: Cli) -> None:
    code, out, _ = run(
        registered,
        *("arrangement", "cease-and-desist", "C-2", "--reasons", "Overrode the restrictions"),
        *("--on", "2026-03-01"),
    )

    assert (0, "  status: cease_and_desist") == (code, out.splitlines()[1])


def test_cease_and_desist_at_the_warning_stage_is_refused(registered: Cli) -> None:
    code, _, err = run(
        registered, "arrangement", "cease-and-desist", "C-1", "--reasons", "x", "--on", "2026-03-01"
    )

    assert (1, True) == (code, "not active" in err)


def test_end_prints_that_system_flags_must_be_removed(registered: Cli) -> None:
    code, out, _ = run(registered, "arrangement", "end", "C-2", "--on", "2026-03-01")

    assert (0, True) == (code, "remove its flags in other systems" in out)


def test_ending_twice_is_refused(registered: Cli) -> None:
    run(registered, "arrangement", "end", "C-2", "--on", "2026-03-01")

    code, _, err = run(registered, "arrangement", "end", "C-2", "--on", "2026-03-02")

    assert (1, True) == (code, "cannot end it again" in err)


def test_a_step_for_an_unknown_customer_is_refused(registered: Cli) -> None:
    code, _, err = run(registered, "arrangement", "end", "C-9", "--on", "2026-03-02")

    assert (1, True) == (code, "no customer C-9 in the register" in err)


def test_a_step_dated_in_the_future_is_refused(registered: Cli) -> None:
    code, _, err = run(registered, "arrangement", "end", "C-2", "--on", "2999-01-01")

    assert (1, True) == (code, "is after today" in err)


def test_history_lists_the_steps_without_reasons(registered: Cli) -> None:
    decide_c1(registered)

    code, out, _ = run(registered, "arrangement", "history", "C-1")

    assert (0, True, False) == (code, "decision" in out, "Forty calls" in out)


def test_history_with_reasons_shows_them(registered: Cli) -> None:
    decide_c1(registered)

    code, out, _ = run(registered, "arrangement", "history", "C-1", "--include-reasons")

    assert (0, True) == (code, "Forty calls in one week to five teams" in out)


def test_history_json_lists_events_and_appeals(registered: Cli) -> None:
    decide_c1(registered)
    run(registered, "arrangement", "appeal", "C-1", "--received", "2026-01-16")

    found = json.loads(run(registered, "arrangement", "history", "C-1", "--json")[1])

    assert (["decision", "appeal_received"], ["2026-01-23"]) == (
        [e["kind"] for e in found["events"]],
        [a["decision_due"] for a in found["appeals"]],
    )


def test_the_operator_is_recorded_in_the_audit_log(registered: Cli) -> None:
    decide_c1(registered, "--operator", "Dana DMO")

    rows = json.loads(run(registered, "audit", "list", "--json")[1])

    assert ("Dana DMO", "arrangement.decide") == (rows[-1]["operator"], rows[-1]["action"])


def test_register_list_json_leaves_out_reasons_and_support_needs(registered: Cli) -> None:
    row = register_json(registered)[1]

    assert (False, False, 6) == ("reasons" in row, "support_needs" in row, row["review_months"])


def test_register_list_json_with_reasons_includes_them(registered: Cli) -> None:
    code, out, _ = run(registered, "register", "list", "--json", "--include-reasons")

    row = json.loads(out)[1]
    assert (0, "Ninety emails to the repairs team in a month", "Hard of hearing") == (
        code,
        row["reasons"],
        row["support_needs"],
    )


def test_register_export_leaves_out_the_restricted_columns(registered: Cli) -> None:
    exported = registered[1] / "export.csv"

    code, out, _ = run(registered, "register", "export", str(exported))

    assert (0, False, True) == (
        code,
        "Ninety emails" in exported.read_text(),
        "without reasons and support needs" in out,
    )


def test_register_export_with_reasons_includes_them_and_is_audited(registered: Cli) -> None:
    exported = registered[1] / "export.csv"

    run(registered, "register", "export", str(exported), "--include-reasons")

    rows = json.loads(run(registered, "audit", "list", "--json")[1])
    assert (True, "register.export.restricted") == (
        "Ninety emails" in exported.read_text(),
        rows[-1]["action"],
    )


def test_a_need_to_know_export_re_imported_keeps_the_reasons(registered: Cli) -> None:
    exported = registered[1] / "export.csv"
    run(registered, "register", "export", str(exported))

    code, _, err = run(registered, "register", "import", str(exported))

    history = json.loads(
        run(registered, "arrangement", "history", "C-2", "--json", "--include-reasons")[1]
    )
    assert (0, "Ninety emails to the repairs team in a month") == (code, history["reasons"]), err


def test_appeal_decide_upheld_prints_that_system_flags_must_be_removed(registered: Cli) -> None:
    decide_c1(registered)
    run(registered, "arrangement", "appeal", "C-1", "--received", "2026-01-16")

    code, out, _ = run(
        registered,
        *("arrangement", "appeal-decide", "C-1", "--outcome", "upheld", "--on", "2026-01-20"),
    )

    assert (0, True) == (code, "note: the arrangement has ended: remove its flags in other" in out)


def test_appeal_decide_varied_reminds_to_update_the_register_first(registered: Cli) -> None:
    decide_c1(registered)
    run(registered, "arrangement", "appeal", "C-1", "--received", "2026-01-16")

    code, out, _ = run(
        registered,
        *("arrangement", "appeal-decide", "C-1", "--outcome", "varied", "--on", "2026-01-20"),
    )

    assert (0, True) == (code, "before sending the appeal-outcome letter" in out)


def test_review_ended_prints_that_system_flags_must_be_removed(registered: Cli) -> None:
    code, out, _ = run(
        registered, "arrangement", "review", "C-2", "--outcome", "ended", "--on", "2026-07-05"
    )

    assert (0, True) == (
        code,
        "remove its flags in other systems (see `spocbot flags list`)" in out,
    )


def test_review_varied_reminds_to_update_the_register_first(registered: Cli) -> None:
    code, out, _ = run(
        registered, "arrangement", "review", "C-2", "--outcome", "varied", "--on", "2026-07-05"
    )

    assert (0, True) == (code, "before sending the review-outcome letter" in out)


def test_ending_an_imported_ceased_arrangement_records_its_end(registered: Cli) -> None:
    (registered[1] / "ceased.csv").write_text(REGISTER.replace(",active,", ",ceased,"))
    run(registered, "register", "import", str(registered[1] / "ceased.csv"))

    code, out, _ = run(registered, "arrangement", "end", "C-2", "--on", "2026-03-01")

    assert (0, True) == (code, "the end is now recorded" in out)


def late_appeal(runner: Cli) -> None:
    decide_c1(runner)
    run(
        runner,
        *("arrangement", "appeal", "C-1", "--received", "2026-02-10"),
        *("--late", "--reason", "QUOKKA in hospital"),
    )


def test_history_json_leaves_out_why_a_late_appeal_was_accepted(registered: Cli) -> None:
    late_appeal(registered)

    code, out, _ = run(registered, "arrangement", "history", "C-1", "--json")

    assert (0, False) == (code, "QUOKKA" in out)


def test_history_json_with_reasons_shows_why_a_late_appeal_was_accepted(registered: Cli) -> None:
    late_appeal(registered)

    code, out, _ = run(registered, "arrangement", "history", "C-1", "--json", "--include-reasons")

    assert (0, "QUOKKA in hospital") == (code, json.loads(out)["appeals"][0]["late_reason"])


def test_reasons_with_a_control_character_are_refused(registered: Cli) -> None:
    code, _, err = run(
        registered,
        *("arrangement", "cease-and-desist", "C-2", "--reasons", "Over\x1bridden"),
        *("--on", "2026-03-01"),
    )

    assert (1, True) == (code, "the reasons: contains a control character (U+001B" in err)
