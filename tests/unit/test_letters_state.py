"""Letters agree with what was recorded: a letter about a step that did not happen is refused
naming the state and the step to record; the appeal a letter offers is the one
``arrangement appeal`` accepts (bot.lifecycle.decision_in_force); the cover notice and the
cease and desist letters tell of their own recorded steps; warnings for what the operator
should check; the words of the cease and desist, cover, end and referral letters."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bot import lifecycle
from bot.bootstrap import App, build_app
from bot.letters import LetterDocument, LetterError, LetterOptions, compose
from bot.letters import formats as letter_formats
from bot.letters.blocks import Block, to_text
from bot.store import models as m
from tests.lettertest import normalise, set_fields
from tests.unit.test_letters import AS_OF, REGISTER, cli, write_config

TODAY = date(2027, 3, 1)
CND_REASONS = "QUOKKA-CND-4411 kept emailing six teams after the SPOC decision"


@pytest.fixture
def app(tmp_path: Path) -> App:
    """NV-1 in force since its decision of 3 December 2026, with every letter field set."""
    config = write_config(tmp_path)
    (tmp_path / "register.csv").write_text(REGISTER)
    code, _, err = cli(config, "register", "import", str(tmp_path / "register.csv"))
    assert 0 == code, err
    made = build_app(config)
    set_fields(made, "NV-1")
    return made


def write(app: App, kind: str, ref: str = "NV-1", **options: object) -> LetterDocument:
    opts = LetterOptions(**{"as_of": AS_OF, **options})  # type: ignore[arg-type]
    with app.factory() as session:
        return compose(session, app.settings, kind, ref, opts)


def refusal(app: App, kind: str, **options: object) -> str:
    with pytest.raises(LetterError) as refused:
        write(app, kind, **options)
    return str(refused.value)


def decided_then_ceased(app: App) -> None:
    """Decided on 1 June 2026; cease and desist on 20 November 2026, with its own reasons."""
    set_fields(app, "NV-1", status="warning", decided_on=None)
    lifecycle.decide(
        app.factory,
        "NV-1",
        agreed=True,
        on=date(2026, 6, 1),
        today=TODAY,
        reasons="Original decision reasons",
        change_required="Write only to the SPOC",
        review_date=date(2026, 12, 30),
    )
    lifecycle.cease_and_desist(
        app.factory, "NV-1", on=date(2026, 11, 20), today=TODAY, reasons=CND_REASONS
    )


def end(app: App, on: date = date(2026, 12, 4)) -> None:
    lifecycle.end(app.factory, "NV-1", on=on, today=TODAY)


# -- letters about steps that did not happen ------------------------------------------------


@pytest.mark.parametrize("kind", ["introduction", "cease-and-desist", "cover-notice"])
def test_a_letter_saying_the_arrangement_is_in_force_is_refused_once_it_ended(
    app: App, kind: str
) -> None:
    end(app)

    assert "the arrangement has ended on 2026-12-04" in refusal(
        app, kind, cover_from=None, as_of=date(2026, 12, 4)
    )


def test_a_cease_and_desist_letter_needs_a_cease_and_desist_in_force(app: App) -> None:
    assert (
        "cannot write the cease-and-desist letter for NV-1: no cease and desist is in force "
        "(the arrangement is in force (the formal stage, stage 3)); record it first "
        "(`spocbot arrangement cease-and-desist NV-1`)"
    ) == refusal(app, "cease-and-desist")


def test_a_review_outcome_letter_needs_a_recorded_review(app: App) -> None:
    assert "no review is recorded; record it first (`spocbot arrangement review NV-1`)" in (
        refusal(app, "review-outcome", outcome="continued")
    )


def test_an_appeal_outcome_letter_needs_a_recorded_appeal_decision(app: App) -> None:
    assert "no appeal decision is recorded; record it first" in refusal(
        app, "appeal-outcome", outcome="dismissed"
    )


def test_the_review_outcome_is_the_recorded_reviews(app: App) -> None:
    lifecycle.review(
        app.factory,
        "NV-1",
        outcome=lifecycle.ReviewOutcome.VARIED,
        on=date(2026, 12, 3),
        today=TODAY,
        next_review=date(2027, 6, 3),
    )

    assert "with changes" in write(app, "review-outcome").text


def test_a_fair_treatment_letter_is_refused_outside_the_warning_stage(app: App) -> None:
    assert "the fair-treatment letter is for the warning stage" in refusal(app, "fair-treatment")


def test_an_end_letter_is_refused_before_the_end(app: App) -> None:
    assert "the arrangement has not ended" in refusal(app, "end")


def test_an_end_letter_for_an_imported_ceased_arrangement_asks_for_the_end(app: App) -> None:
    set_fields(app, "NV-1", status="ceased", ended_on=None)

    assert "its end is not recorded; record it (`spocbot arrangement end NV-1" in refusal(
        app, "end"
    )


def test_an_end_letter_follows_ending_an_imported_ceased_arrangement(app: App) -> None:
    set_fields(app, "NV-1", status="ceased", ended_on=None, start_date=date(2026, 6, 1))
    end(app, date(2026, 12, 2))

    assert "ended on 2 December 2026" in normalise(write(app, "end").text)


def test_an_introduction_letter_needs_an_arrangement_in_force(app: App) -> None:
    set_fields(app, "NV-1", status="warning")

    assert "record the decision first (`spocbot arrangement decide`)" in refusal(
        app, "introduction"
    )


def test_a_letter_finds_the_customer_ignoring_case(app: App) -> None:
    assert "NV-1" == write(app, "introduction", ref="nv-1").customer_ref


# -- the appeal a letter offers is the one `arrangement appeal` accepts ---------------------


def test_the_cease_and_desist_letter_offers_an_appeal_28_days_after_it(app: App) -> None:
    decided_then_ceased(app)

    assert "by 18 December 2026" in normalise(
        write(app, "cease-and-desist", as_of=date(2026, 11, 20)).text
    )


def test_an_appeal_by_the_cease_and_desist_letters_date_is_in_time(app: App) -> None:
    decided_then_ceased(app)

    result = lifecycle.appeal(app.factory, "NV-1", received=date(2026, 12, 18), today=TODAY)

    assert date(2026, 12, 18) == result.appeal_deadline


def test_the_cease_and_desist_letter_states_its_own_reasons(app: App) -> None:
    decided_then_ceased(app)

    text = normalise(write(app, "cease-and-desist", as_of=date(2026, 11, 20)).text)
    assert (True, False) == (CND_REASONS in text, "Original decision reasons" in text)


def test_an_introduction_letter_after_a_cease_and_desist_is_refused(app: App) -> None:
    decided_then_ceased(app)

    assert "the cease-and-desist letter tells of the decision in force" in refusal(
        app, "introduction"
    )


def test_a_review_letter_after_a_later_decision_offers_no_appeal(app: App) -> None:
    lifecycle.review(
        app.factory,
        "NV-1",
        outcome=lifecycle.ReviewOutcome.CONTINUED,
        on=date(2026, 12, 3),
        today=TODAY,
        next_review=date(2027, 6, 3),
    )
    lifecycle.cease_and_desist(app.factory, "NV-1", on=date(2026, 12, 10), today=TODAY, reasons="x")

    assert (
        "the decision in force is the cease and desist decision of 2026-12-10, not the one this "
        "letter tells of"
    ) in refusal(app, "review-outcome")


def appeal_decided(app: App, outcome: lifecycle.AppealOutcome) -> None:
    lifecycle.appeal(app.factory, "NV-1", received=date(2026, 12, 10), today=TODAY)
    lifecycle.appeal_decide(
        app.factory, "NV-1", outcome=outcome, on=date(2026, 12, 14), today=TODAY
    )


def test_an_appeal_outcome_letter_offers_the_route_beyond_not_another_appeal(app: App) -> None:
    appeal_decided(app, lifecycle.AppealOutcome.DISMISSED)

    text = normalise(write(app, "appeal-outcome", as_of=date(2026, 12, 14)).text)
    assert (True, True, False) == (
        "complaints procedure" in text,
        "Housing Ombudsman" in text,
        "within 28 days" in text,
    )


def test_an_appeal_outcome_letter_that_drops_the_route_beyond_is_refused(
    app: App, tmp_path: Path
) -> None:
    appeal_decided(app, lifecycle.AppealOutcome.DISMISSED)
    built_in = (letter_formats.LETTER_TEMPLATES / "appeal-outcome.txt.j2").read_text()
    (tmp_path / "own").mkdir()
    (tmp_path / "own" / "appeal-outcome.txt.j2").write_text(
        built_in.replace("Housing Ombudsman", "regulator")
    )
    letters = app.settings.letters.model_copy(update={"templates_dir": tmp_path / "own"})
    settings = app.settings.model_copy(update={"letters": letters})

    with app.factory() as session, pytest.raises(LetterError) as refused:
        compose(session, settings, "appeal-outcome", "NV-1", LetterOptions(as_of=AS_OF))
    assert "(it must include: Housing Ombudsman)" in str(refused.value)


def test_a_decision_letter_after_an_appeal_outcome_is_refused(app: App) -> None:
    appeal_decided(app, lifecycle.AppealOutcome.DISMISSED)

    assert "the last internal stage, which cannot be appealed again" in refusal(app, "introduction")


# -- warnings --------------------------------------------------------------------------------


def test_a_letter_whose_appeal_deadline_has_passed_warns(app: App) -> None:
    warnings = write(app, "introduction", as_of=date(2027, 1, 5)).warnings

    assert [
        "the appeal deadline, 31 December 2026 (28 days after the decision of 2026-12-03), is "
        "before the letter's date (5 January 2027): the letter offers an appeal by a date "
        "already past, and an appeal now is late (`spocbot arrangement appeal --late`)"
    ] == [w for w in warnings if w.startswith("the appeal deadline")]


def test_a_letter_in_time_for_an_appeal_does_not_warn_of_it(app: App) -> None:
    warnings = write(app, "introduction").warnings

    assert [] == [w for w in warnings if w.startswith("the appeal deadline")]


def test_a_support_need_for_large_print_warns_the_letter_is_standard_print(app: App) -> None:
    set_fields(app, "NV-1", support_needs="Partially sighted: needs LARGE PRINT letters")

    warnings = write(app, "introduction").warnings

    assert 1 == sum("this letter is in standard print" in w for w in warnings)


def test_the_format_warning_never_quotes_the_support_needs(app: App) -> None:
    set_fields(app, "NV-1", support_needs="Partially sighted: needs large print letters")

    assert [] == [w for w in write(app, "introduction").warnings if "sighted" in w]


# -- cover notices ---------------------------------------------------------------------------


def add_officer(app: App, name: str, email: str) -> None:
    with app.factory.begin() as session:
        session.add(m.Officer(name=name, email=email))


def test_the_cover_notice_letter_names_the_recorded_cover_officer(app: App) -> None:
    add_officer(app, "Dana Deputy", "dana@homes.example")
    set_fields(app, "NV-1", channels="email")
    lifecycle.cover_notice(
        app.factory,
        "NV-1",
        starts_on=date(2026, 12, 21),
        ends_on=date(2027, 1, 4),
        cover_email="dana@homes.example",
    )

    text = normalise(write(app, "cover-notice").text)
    assert (True, False) == ("Dana Deputy" in text, "Chris Cover" in text)


def test_the_cover_notice_letter_takes_the_recorded_notices_dates(app: App) -> None:
    lifecycle.cover_notice(
        app.factory, "NV-1", starts_on=date(2026, 12, 21), ends_on=date(2027, 1, 4)
    )

    assert "from 21 December 2026 to 4 January 2027" in normalise(write(app, "cover-notice").text)


def test_a_cover_notice_letter_for_dates_with_no_notice_recorded_warns(app: App) -> None:
    warnings = write(
        app, "cover-notice", cover_from=date(2026, 12, 21), cover_to=date(2027, 1, 4)
    ).warnings

    assert [
        "no cover notice is recorded for NV-1 from 2026-12-21 to 2027-01-04: record it "
        "(`spocbot arrangement cover-notice NV-1`)"
    ] == [w for w in warnings if w.startswith("no cover notice")]


def test_the_cover_notice_says_to_keep_writing_to_the_permitted_address(app: App) -> None:
    text = normalise(
        write(app, "cover-notice", cover_from=date(2026, 12, 21), cover_to=date(2027, 1, 4)).text
    )

    assert (
        "Please keep writing to amelia@homes.example, as you do now. Chris Cover will read what "
        "you send and deal with it."
    ) in text


# -- the words -------------------------------------------------------------------------------


def test_the_cease_and_desist_letter_says_acknowledged_but_not_answered_once(app: App) -> None:
    decided_then_ceased(app)

    text = write(app, "cease-and-desist", as_of=date(2026, 11, 20)).text
    assert 1 == normalise(text).count("acknowledged but not answered")


def test_the_cease_and_desist_letter_never_says_a_message_will_be_answered(app: App) -> None:
    decided_then_ceased(app)

    text = normalise(write(app, "cease-and-desist", as_of=date(2026, 11, 20)).text)
    assert [] == [s for s in ("will read what you send", "not be answered by") if s in text]


@pytest.mark.parametrize(
    ("kind", "setup"),
    [("end", "end"), ("review-outcome", "review"), ("appeal-outcome", "appeal")],
)
def test_a_letter_ending_the_arrangement_says_the_flags_will_be_removed(
    app: App, kind: str, setup: str
) -> None:
    if setup == "end":
        end(app, date(2026, 12, 3))
    elif setup == "review":
        lifecycle.review(
            app.factory,
            "NV-1",
            outcome=lifecycle.ReviewOutcome.ENDED,
            on=date(2026, 12, 3),
            today=TODAY,
        )
    else:
        appeal_decided(app, lifecycle.AppealOutcome.UPHELD)

    text = normalise(write(app, kind, as_of=date(2026, 12, 14)).text)
    assert (True, False) == (
        "We will remove" in text or "we will remove" in text,
        "removed" in text,
    )


def test_the_referral_form_names_the_dmo_once(app: App) -> None:
    doc = write(app, "referral-form")

    assert ["Data Management Officer"] == [
        line for line in (doc.recipient_name, *doc.recipient_address) if "Management" in line
    ]


def test_the_referral_form_gives_the_stage_in_words(app: App) -> None:
    assert "- Stage: in force (the formal stage, stage 3)" in to_text(
        write(app, "referral-form").blocks
    )


def test_the_referral_form_states_the_restrictions_about_the_customer(app: App) -> None:
    blocks = write(app, "referral-form").blocks
    restrictions = next(
        b for i, b in enumerate(blocks) if blocks[i - 1].text == "Restrictions proposed"
    )

    assert [] == [r for r in restrictions.lines if " you" in f" {r.lower()}"]


def test_plain_text_keeps_a_phone_number_on_one_line() -> None:
    line = "In an emergency you can always telephone our contact centre on 0300 123 4567, " * 2

    assert line.strip() in to_text((Block("title", ("T",)), Block("paragraph", (line.strip(),))))


def test_the_pdf_is_dated_the_letters_date(app: App) -> None:
    from io import BytesIO

    from pypdf import PdfReader

    pdf = letter_formats.to_pdf(write(app, "introduction"))

    assert "D:20261203000000+00'00'" == PdfReader(BytesIO(pdf)).metadata["/CreationDate"]
