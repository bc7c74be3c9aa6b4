"""Letters: every kind in every format says what the policy requires, or is refused naming what
is missing; organisations' own templates and letterheads; escaping and header injection;
sending once; nothing restricted outside the letter itself."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import pytest
from click.testing import CliRunner
from docx import Document
from sqlalchemy import select

from bot.audit import events
from bot.bootstrap import App, build_app
from bot.cli import main
from bot.letters import LetterError, LetterOptions, compose
from bot.letters import formats as letter_formats
from bot.letters.blocks import Block, mark_value, parse_blocks
from bot.letters.service import list_letters, render_letter, send_letter
from bot.letters.wording import contact_hours, restrictions
from bot.store import models as m
from tests.lettertest import (
    LETTERS_SECTION,
    docx_text,
    email_text,
    normalise,
    pdf_text,
    set_fields,
)

CONFIG = """
[organisation]
name = "Northvale Homes"
dmo_email = "dmo@homes.example"
bot_address = "bot@homes.example"
staff_domains = ["homes.example"]

[storage]
database_url = "sqlite:///state/db.sqlite"
evidence_dir = "state/evidence"

[backend]
kind = "embedded"

[[mailboxes]]
address = "info@homes.example"
role = "information"

[[mailboxes]]
address = "amelia@homes.example"
role = "spoc"

[[mailboxes]]
address = "bot@homes.example"
role = "bot"
"""
REGISTER = (
    "customer_ref,customer_name,customer_emails,spoc_name,spoc_email,cover_name,cover_email,"
    "restricted_to,status,start_date,review_date\n"
    "NV-1,Zoë Łukasiewicz,zoe@mail.example,Amelia Hart,amelia@homes.example,Chris Cover,"
    "chris@homes.example,amelia@homes.example,active,2026-12-03,2027-06-03\n"
)
AS_OF = date(2026, 12, 3)
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def write_config(root: Path, extra: str = LETTERS_SECTION) -> Path:
    (root / "spocbot.toml").write_text(CONFIG + extra)
    return root / "spocbot.toml"


def cli(config: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--config", str(config), *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = write_config(tmp_path)
    (tmp_path / "register.csv").write_text(REGISTER)
    code, _, err = cli(path, "register", "import", str(tmp_path / "register.csv"))
    assert 0 == code, err
    set_fields(build_app(path), "NV-1")
    return path


@pytest.fixture
def app(config: Path) -> App:
    return build_app(config)


def record_review(app: App, outcome: str, on: date, next_review: date | None) -> None:
    with app.factory.begin() as session:
        arrangement = session.scalars(select(m.Arrangement)).one()
        arrangement.events.append(
            m.ArrangementEvent(
                kind="review", on=on, outcome=outcome, next_review=next_review, recorded_by="t"
            )
        )
        if outcome == "ended":
            arrangement.status, arrangement.ended_on = "ceased", on


def record_appeal(app: App, outcome: str, decided_on: date) -> None:
    with app.factory.begin() as session:
        arrangement = session.scalars(select(m.Arrangement)).one()
        arrangement.appeals.append(
            m.Appeal(
                decision_on=date(2026, 12, 3),
                received_on=date(2026, 12, 10),
                deadline=date(2026, 12, 31),
                decision_due=date(2026, 12, 17),
                status="decided",
                outcome=outcome,
                decided_on=decided_on,
            )
        )
        arrangement.events.append(
            m.ArrangementEvent(
                kind="appeal_decided", on=decided_on, outcome=outcome, recorded_by="t"
            )
        )
        if outcome == "upheld":
            arrangement.status, arrangement.ended_on = "ceased", decided_on


CEASE_REASONS = "Between 1 and 10 December 2026 you wrote to six teams despite the arrangement."


def record_cease(app: App, on: date, reasons: str = CEASE_REASONS) -> None:
    with app.factory.begin() as session:
        arrangement = session.scalars(select(m.Arrangement)).one()
        arrangement.events.append(
            m.ArrangementEvent(kind="cease_and_desist", on=on, reasons=reasons, recorded_by="t")
        )
        arrangement.status = "cease_and_desist"


def letter(app: App, kind: str, **options: object) -> tuple[str, bytes, bytes, bytes]:
    """The letter in all three formats, and the text each holds."""
    opts = LetterOptions(as_of=AS_OF, operator="tester", **options)  # type: ignore[arg-type]
    with app.factory() as session:
        doc = compose(session, app.settings, kind, "NV-1", opts)
    eml = letter_formats.render(
        doc, "eml", from_address="bot@homes.example", message_id="<x@homes.example>", date=NOW
    )
    return doc.title, eml, letter_formats.to_docx(doc), letter_formats.to_pdf(doc)


DECISION_WORDS = [
    "Between 1 September and 30 November 2026 you sent 212 emails to 14 staff.",  # reasons
    "Send your messages to your single point of contact only.",  # change required
    "Amelia Hart",  # the SPOC
    "amelia@homes.example",  # contact method details
    "01632 960 123",
    "Contact us only by email or telephone.",  # restrictions, in plain words
    "Monday to Friday, 9am to 5pm",
    "no more than 3 times a week (Monday to Sunday)",
    "Do not visit the Northvale one-stop shop without an appointment.",
    "Write only to amelia@homes.example.",
    "3 June 2027",  # review date
    "dmo@homes.example",  # appeal: to whom
    "0300 123 4567",  # emergency route
]

# An appeal's outcome is the last internal stage: the route beyond it, not a fresh appeal.
APPEAL_OUTCOME_WORDS = [
    *(w for w in DECISION_WORDS if w != "dmo@homes.example"),
    "complaints procedure",
    "Housing Ombudsman",
]

# (kind, setup, options, words the letter must hold in every format)
CASES = [
    ("introduction", None, {}, [*DECISION_WORDS, "by 31 December 2026", "6 months"]),
    (
        "review-outcome",
        ("review", "continued", date(2026, 12, 3), date(2027, 6, 3)),
        {},
        [*DECISION_WORDS, "continues", "by 31 December 2026"],
    ),
    (
        "review-outcome",
        ("review", "varied", date(2026, 12, 3), date(2027, 6, 3)),
        {},
        [*DECISION_WORDS, "with changes", "by 31 December 2026"],
    ),
    (
        "review-outcome",
        ("review", "ended", date(2026, 12, 1), None),
        {},
        ["has ended", "1 December 2026", "0300 123 4567"],
    ),
    (
        "fair-treatment",
        ("status", "warning", None, None),
        {},
        [
            "Send your messages to your single point of contact only.",
            "3 June 2027",
            "0300 123 4567",
        ],
    ),
    (
        "cover-notice",
        None,
        {"cover_from": date(2026, 12, 21), "cover_to": date(2027, 1, 4)},
        ["Chris Cover", "01632 960 456", "21 December 2026", "4 January 2027", "0300 123 4567"],
    ),
    (
        "cease-and-desist",
        ("cease", None, date(2026, 12, 3), None),
        {},
        [
            *DECISION_WORDS[1:],
            CEASE_REASONS,
            "acknowledged but not answered",
            "by 31 December 2026",
        ],
    ),
    (
        "appeal-outcome",
        ("appeal", "dismissed", date(2026, 12, 14), None),
        {},
        [*APPEAL_OUTCOME_WORDS, "the decision stands"],
    ),
    (
        "appeal-outcome",
        ("appeal", "varied", date(2026, 12, 14), None),
        {},
        [*APPEAL_OUTCOME_WORDS, "the decision is changed"],
    ),
    (
        "appeal-outcome",
        ("appeal", "upheld", date(2026, 12, 14), None),
        {},
        ["your appeal is upheld", "0300 123 4567"],
    ),
    ("end", ("end", None, date(2026, 12, 2), None), {}, ["2 December 2026", "0300 123 4567"]),
    (
        "referral-form",
        None,
        {},
        [
            "Between 1 September and 30 November 2026 you sent 212 emails to 14 staff.",
            "Hearing impairment: prefers email.",
            "Amelia Hart",
            "NV-1",
        ],
    ),
]


@pytest.mark.parametrize(
    ("kind", "setup", "options", "words"),
    CASES,
    ids=[f"{c[0]}-{c[1][1] if c[1] and c[1][1] else 'plain'}" for c in CASES],
)
def test_each_letter_says_what_it_must_in_every_format(
    app: App,
    kind: str,
    setup: tuple[object, ...] | None,
    options: dict[str, object],
    words: list[str],
) -> None:
    if setup and setup[0] == "review":
        record_review(app, str(setup[1]), setup[2], setup[3])  # type: ignore[arg-type]
    elif setup and setup[0] == "appeal":
        record_appeal(app, str(setup[1]), setup[2])  # type: ignore[arg-type]
    elif setup and setup[0] == "end":
        set_fields(app, "NV-1", ended_on=setup[2], status="ceased")
    elif setup and setup[0] == "cease":
        record_cease(app, setup[2])  # type: ignore[arg-type]
    elif setup and setup[0] == "status":
        set_fields(app, "NV-1", status=setup[1])
    title, eml, docx, pdf = letter(app, kind, **options)

    for name, text in (("eml", email_text(eml)), ("docx", docx_text(docx)), ("pdf", pdf_text(pdf))):
        missing = [w for w in [*words, title] if normalise(w).casefold() not in text.casefold()]
        assert [] == missing, name
        assert ("Hearing impairment" in text) == (kind == "referral-form"), name  # need-to-know
    customer_named = "Zoë Łukasiewicz" in pdf_text(pdf)
    assert customer_named, "the PDF prints the name in full (DejaVu Sans)"
    assert "Northvale Homes" in docx_text(docx).split("Zoë")[0], "letterhead text first"


@pytest.mark.parametrize(
    ("fields", "settings_change", "element"),
    [
        ({"reasons": ""}, None, "the reasons for the decision: record them"),
        ({"change_required": ""}, None, "the change required: record it"),
        ({"spoc_name": " "}, None, "the SPOC's name"),
        ({"spoc_phone": ""}, None, "the contact method details: the register allows telephone"),
        ({"review_date": date(2026, 11, 1)}, None, "how long the arrangement lasts and its review"),
        ({"decided_on": None}, None, "how to appeal (by which date, and to whom): the date of"),
        ({}, {"emergency_phone": None}, "the emergency route: set [letters] emergency_phone"),
    ],
)
def test_a_decision_letter_missing_an_element_is_refused_naming_it(
    app: App, fields: dict[str, object], settings_change: dict[str, object] | None, element: str
) -> None:
    set_fields(app, "NV-1", **fields)
    settings = app.settings
    if settings_change:
        settings = settings.model_copy(
            update={"letters": settings.letters.model_copy(update=settings_change)}
        )
    with app.factory() as session, pytest.raises(LetterError) as refused:
        compose(session, settings, "introduction", "NV-1", LetterOptions(as_of=AS_OF))

    assert element in str(refused.value)
    assert "a required element is missing" in str(refused.value)


def test_every_missing_element_is_named_at_once(app: App) -> None:
    set_fields(app, "NV-1", reasons="", change_required="", decided_on=None)
    with app.factory() as session, pytest.raises(LetterError) as refused:
        compose(session, app.settings, "introduction", "NV-1", LetterOptions(as_of=AS_OF))

    lines = str(refused.value).splitlines()[1:]
    assert 3 == len(lines)


def test_a_cover_notice_without_dates_or_cover_officer_is_refused(app: App) -> None:
    with app.factory() as session, pytest.raises(LetterError) as refused:
        compose(session, app.settings, "cover-notice", "NV-1", LetterOptions(as_of=AS_OF))
    assert "the dates of the cover: give --from and --to" in str(refused.value)


def test_a_cover_notice_takes_its_dates_from_the_spocs_recorded_absence(app: App) -> None:
    with app.factory.begin() as session:
        officer = session.scalars(
            select(m.Officer).where(m.Officer.email == "amelia@homes.example")
        ).one()
        session.add(
            m.OfficerAbsence(
                officer=officer, starts_on=date(2026, 12, 21), ends_on=date(2027, 1, 4)
            )
        )
    with app.factory() as session:
        doc = compose(session, app.settings, "cover-notice", "NV-1", LetterOptions(as_of=AS_OF))
    assert "from 21 December 2026 to 4 January 2027" in normalise(doc.text)


def test_options_a_letter_does_not_take_are_refused(app: App) -> None:
    for options, message in (
        ({"outcome": "varied"}, "takes no --outcome"),
        ({"cover_from": AS_OF}, "only the cover-notice letter takes --from and --to"),
    ):
        with app.factory() as session, pytest.raises(LetterError, match=message):
            compose(
                session,
                app.settings,
                "introduction",
                "NV-1",
                LetterOptions(as_of=AS_OF, **options),  # type: ignore[arg-type]
            )


def test_an_outcome_that_contradicts_the_record_is_refused(app: App) -> None:
    record_review(app, "continued", date(2026, 12, 3), date(2027, 6, 3))
    with app.factory() as session, pytest.raises(LetterError) as refused:
        compose(
            session,
            app.settings,
            "review-outcome",
            "NV-1",
            LetterOptions(as_of=AS_OF, outcome="ended"),
        )
    assert "is 'continued', not 'ended'" in str(refused.value)


# -- the organisation's own templates and letterhead -------------------------------------------


def own_templates(app: App, tmp_path: Path, name: str, text: str) -> App:
    folder = tmp_path / "own-letters"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text)
    letters = app.settings.letters.model_copy(update={"templates_dir": folder})
    return replace(app, settings=app.settings.model_copy(update={"letters": letters}))


BUILT_IN = (letter_formats.LETTER_TEMPLATES / "introduction.txt.j2").read_text()


def test_an_organisations_template_replaces_the_built_in_one(app: App, tmp_path: Path) -> None:
    custom = own_templates(
        app, tmp_path, "introduction.txt.j2", BUILT_IN.replace("Dear ", "Dear Tenant ")
    )
    _, eml, docx, pdf = letter(custom, "introduction")
    assert all("Dear Tenant Zoë" in t for t in (email_text(eml), docx_text(docx), pdf_text(pdf)))


def test_a_custom_template_that_drops_an_element_is_refused(app: App, tmp_path: Path) -> None:
    without_appeal = BUILT_IN.split("## If you disagree")[0] + "Yours sincerely,\n"
    custom = own_templates(app, tmp_path, "introduction.txt.j2", without_appeal)

    with custom.factory() as session, pytest.raises(LetterError) as refused:
        compose(session, custom.settings, "introduction", "NV-1", LetterOptions(as_of=AS_OF))
    message = str(refused.value)
    assert "introduction.txt.j2 template leaves out" in message
    assert (
        "how to appeal (by which date, and to whom) (it must include: 31 December 2026" in message
    )


def test_a_custom_template_that_drops_one_restriction_is_refused(app: App, tmp_path: Path) -> None:
    loop = "{% for restriction in restrictions %}"
    custom = own_templates(
        app,
        tmp_path,
        "introduction.txt.j2",
        BUILT_IN.replace(loop, "{% for restriction in restrictions[:-1] %}"),
    )
    with custom.factory() as session, pytest.raises(LetterError) as refused:
        compose(session, custom.settings, "introduction", "NV-1", LetterOptions(as_of=AS_OF))
    assert "the restrictions (it must include: Do not visit" in str(refused.value)


def test_a_custom_template_using_an_unknown_name_is_refused(app: App, tmp_path: Path) -> None:
    custom = own_templates(app, tmp_path, "end.txt.j2", "# Ended\n{{ customer_shoe_size }}\n")
    set_fields(app, "NV-1", ended_on=date(2026, 12, 2), status="ceased")
    with custom.factory() as session, pytest.raises(LetterError) as refused:
        compose(session, custom.settings, "end", "NV-1", LetterOptions(as_of=AS_OF))
    assert "uses something this letter does not have" in str(refused.value)
    assert "customer_shoe_size" in str(refused.value)


def make_letterhead(path: Path, *, header: str, placeholders: list[str]) -> Path:
    document = Document()
    document.sections[0].header.paragraphs[0].text = header
    for placeholder in placeholders:
        document.add_paragraph(placeholder)
    document.save(str(path))
    return path


def test_an_organisations_letterhead_is_used(app: App, tmp_path: Path) -> None:
    head = make_letterhead(
        tmp_path / "ours.docx",
        header="NORTHVALE HOMES LETTERHEAD {{ organisation_name }}",
        placeholders=[
            "{{ recipient_name }}",
            "{{ recipient_address }}",
            "Date: {{ letter_date }}",
            "{{p body }}",
            "Registered provider number L0001",
        ],
    )
    with app.factory() as session:
        doc = compose(session, app.settings, "introduction", "NV-1", LetterOptions(as_of=AS_OF))

    text = docx_text(letter_formats.to_docx(doc, head))
    assert "NORTHVALE HOMES LETTERHEAD Northvale Homes" in text
    assert "Date: 3 December 2026" in text
    assert text.index("Your contact arrangement") < text.index("Registered provider number")


@pytest.mark.parametrize(
    ("placeholders", "problem"),
    [
        (["{{ recipient_name }}", "{{ letter_date }}", "{{p body }}"], "{{ recipient_address }}"),
        (
            ["{{ recipient_name }}", "{{ recipient_address }}", "{{ letter_date }}"],
            "{{ body }}",
        ),
        (
            ["{{ recipient_name }}", "{{ recipient_address }} {{ letter_date }} {{ body }}"],
            "must hold the body as {{p body }}",
        ),
        (
            [
                "{{ recipient_name }}",
                "{{ recipient_address }}",
                "{{ letter_date }}",
                "{{p body }}",
                "{{ tenancy_number }}",
            ],
            "placeholder(s) spocbot does not fill: tenancy_number",
        ),
    ],
)
def test_a_letterhead_missing_a_placeholder_is_refused(
    app: App, tmp_path: Path, placeholders: list[str], problem: str
) -> None:
    head = make_letterhead(tmp_path / "bad.docx", header="Ours", placeholders=placeholders)
    with app.factory() as session:
        doc = compose(session, app.settings, "introduction", "NV-1", LetterOptions(as_of=AS_OF))
    with pytest.raises(LetterError) as refused:
        letter_formats.to_docx(doc, head)
    assert problem in str(refused.value)
    assert "[letters] letterhead" in str(refused.value)


def test_a_letterhead_that_is_not_a_word_file_is_refused(app: App, tmp_path: Path) -> None:
    (tmp_path / "letterhead.docx").write_text("not a zip")
    with app.factory() as session:
        doc = compose(session, app.settings, "introduction", "NV-1", LetterOptions(as_of=AS_OF))
    with pytest.raises(LetterError, match=r"is not a Word \.docx file"):
        letter_formats.to_docx(doc, tmp_path / "letterhead.docx")


def test_the_built_in_letterhead_is_what_make_letterhead_builds(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_letterhead", letter_formats.LETTER_TEMPLATES / "make_letterhead.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.build(tmp_path / "built.docx")

    def texts(path: Path) -> list[str]:
        d = Document(str(path))
        return [p.text for p in d.sections[0].header.paragraphs + d.paragraphs]

    assert texts(letter_formats.DEFAULT_LETTERHEAD) == texts(tmp_path / "built.docx")
    letter_formats.check_letterhead(tmp_path / "built.docx")


# -- escaping, injection, fonts --------------------------------------------------------------


def test_html_is_autoescaped_and_word_and_pdf_print_the_name_as_written(app: App) -> None:
    name = "<script>alert('x')</script> & Co"
    set_fields(app, "NV-1", customer_name=name)
    _, eml, docx, pdf = letter(app, "introduction")

    message = message_from_bytes(eml, policy=default_policy)
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; Co" in html
    assert name in docx_text(docx)
    assert name in pdf_text(pdf)


def test_a_line_break_in_a_customers_name_cannot_add_a_header(app: App) -> None:
    set_fields(app, "NV-1", customer_name="Zoë\r\nBcc: attacker@evil.example")
    _, eml, _, _ = letter(app, "introduction")
    message = message_from_bytes(eml, policy=default_policy)

    assert None is message["Bcc"]
    assert "Zoë Bcc: attacker@evil.example" == message["To"].addresses[0].display_name
    assert "amelia@homes.example" == message["Reply-To"], "never the unread bot mailbox"


def test_a_value_cannot_make_headings_or_bullets_of_its_own(app: App) -> None:
    set_fields(app, "NV-1", reasons="# Not a title\n## Nor a heading\n- nor a bullet")
    with app.factory() as session:
        doc = compose(session, app.settings, "introduction", "NV-1", LetterOptions(as_of=AS_OF))

    assert 1 == sum(b.kind == "title" for b in doc.blocks)
    assert Block("paragraph", ("# Not a title ## Nor a heading - nor a bullet",)) in doc.blocks


def test_without_dejavu_the_pdf_falls_back_to_helvetica(
    app: App, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(letter_formats, "FONT_DIRS", (Path("/nonexistent"),))
    with app.factory() as session:
        doc = compose(session, app.settings, "introduction", "NV-1", LetterOptions(as_of=AS_OF))

    text = pdf_text(letter_formats.to_pdf(doc))
    assert "Zoë Lukasiewicz" in text
    assert "fonts-dejavu-core" in caplog.text


def test_the_same_letter_gives_the_same_pdf(app: App) -> None:
    with app.factory() as session:
        doc = compose(session, app.settings, "introduction", "NV-1", LetterOptions(as_of=AS_OF))
    assert letter_formats.to_pdf(doc) == letter_formats.to_pdf(doc)


# -- the block format and plain words --------------------------------------------------------


def test_blocks_keep_a_paragraphs_lines_and_join_a_bullets_continuation() -> None:
    blocks = parse_blocks("# Title\nYours sincerely,\n\nPriya\nDMO\n\n- one\n  more\n- two\n")
    assert (
        Block("title", ("Title",)),
        Block("paragraph", ("Yours sincerely,",)),
        Block("paragraph", ("Priya", "DMO")),
        Block("bullets", ("one more", "two")),
    ) == blocks


def test_a_template_must_start_with_its_title() -> None:
    with pytest.raises(ValueError, match="must start with the letter's title"):
        parse_blocks("Dear customer\n")
    with pytest.raises(ValueError, match="a second title"):
        parse_blocks("# One\n# Two\n")
    assert "" == mark_value(None)


def test_restrictions_in_plain_words() -> None:
    assert "Monday to Friday, 9am to 5.30pm; and Saturday, 10am to midday" == contact_hours(
        "Mon-Fri 09:00-17:30; Sat 10:00-12:00"
    )
    assert [
        "All your contact with us must go through Amelia Hart, your single point of contact.",
        "Contact us only by letter.",
        "We will consider no more than 1 new issue a calendar month.",
        "Contact us only about rent or repairs.",
    ] == restrictions(
        spoc_name="Amelia Hart",
        channels_text="letter",
        contact_hours_text="",
        max_contacts="",
        max_issues="1/month",
        subject_matters="rent;repairs",
        office_visits="",
        permitted=[],
    )


# -- sending, listing and need-to-know -------------------------------------------------------


def test_a_letter_is_queued_once_and_a_repeat_says_already_sent(app: App) -> None:
    options = LetterOptions(as_of=AS_OF, operator="tester")
    first = send_letter(
        app.factory,
        app.settings,
        app.evidence,
        "introduction",
        "NV-1",
        options,
        now=NOW,
        operator="tester",
    )
    again = send_letter(
        app.factory,
        app.settings,
        app.evidence,
        "introduction",
        "NV-1",
        options,
        now=NOW,
        operator="tester",
    )
    copy = send_letter(
        app.factory,
        app.settings,
        app.evidence,
        "introduction",
        "NV-1",
        options,
        now=NOW,
        operator="tester",
        resend=True,
    )

    assert (False, True, False) == (first.already_sent, again.already_sent, copy.already_sent)
    assert first.letter_id == again.letter_id != copy.letter_id
    with app.factory() as session:
        rows = list_letters(session, "NV-1")
        outbox = session.get_one(m.Outbox, first.outbox_id)
        stored = app.evidence.get(outbox.original_sha256)
    assert 2 == len(rows)
    assert rows[0]["sha256"] == outbox.original_sha256
    assert "zoe@mail.example" == rows[0]["to"]
    assert "pending" == rows[0]["status"]
    message = message_from_bytes(stored, policy=default_policy)
    assert outbox.outgoing_message_id == message["Message-ID"].strip()
    assert "application/pdf" in [p.get_content_type() for p in message.walk()]


def test_the_referral_form_goes_to_the_dmo(app: App) -> None:
    result = send_letter(
        app.factory,
        app.settings,
        app.evidence,
        "referral-form",
        "NV-1",
        LetterOptions(as_of=AS_OF, operator="tester"),
        now=NOW,
        operator="tester",
    )
    assert "dmo@homes.example" == result.recipient_email


def test_reasons_and_support_needs_stay_out_of_listings_audit_and_output(
    app: App, config: Path, tmp_path: Path
) -> None:
    send_letter(
        app.factory,
        app.settings,
        app.evidence,
        "introduction",
        "NV-1",
        LetterOptions(as_of=AS_OF, operator="tester"),
        now=NOW,
        operator="tester",
    )
    code, out, err = cli(
        config,
        "letter",
        "render",
        "referral-form",
        "--customer",
        "NV-1",
        "--format",
        "pdf",
        "--out",
        str(tmp_path / "referral.pdf"),
    )
    assert 0 == code, err
    code, listed, _ = cli(config, "letter", "list", "--json")
    with app.factory() as session:
        audited = json.dumps(events(session, "NV-1"))
        routes = " ".join(session.scalars(select(m.Outbox.route_reason)))

    for text in (out, err, listed, audited, routes):
        assert "212 emails" not in text
        assert "Hearing impairment" not in text
    assert "Hearing impairment" in pdf_text((tmp_path / "referral.pdf").read_bytes())
    assert ["letter.send", "letter.render"] == [e["action"] for e in json.loads(audited)][-2:]


def test_render_writes_each_format_and_refusals_exit_non_zero(config: Path, tmp_path: Path) -> None:
    for fmt in ("eml", "docx", "pdf"):
        out = tmp_path / f"letter.{fmt}"
        code, stdout, err = cli(
            config,
            "letter",
            "render",
            "introduction",
            "--customer",
            "NV-1",
            "--format",
            fmt,
            "--out",
            str(out),
            "--as-of",
            "2026-12-03",
        )
        assert 0 == code, err
        assert f"as {fmt} to {out}" in stdout
        assert out.stat().st_size > 1000

    code, _, err = cli(
        config,
        "letter",
        "render",
        "end",
        "--customer",
        "NV-1",
        "--format",
        "pdf",
        "--out",
        str(tmp_path / "end.pdf"),
    )
    assert 1 == code
    assert "the arrangement has not ended" in err
    code, _, err = cli(
        config,
        "letter",
        "render",
        "introduction",
        "--customer",
        "NOPE",
        "--format",
        "pdf",
        "--out",
        str(tmp_path / "x.pdf"),
    )
    assert (1, True) == (code, "no arrangement for customer 'NOPE'" in err)


def test_letter_kinds_and_help_list_every_kind(config: Path) -> None:
    code, out, _ = cli(config, "letter", "kinds")
    _, help_text, _ = cli(config, "letter", "--help")
    assert 0 == code
    for kind in (
        "introduction",
        "review-outcome",
        "fair-treatment",
        "cover-notice",
        "cease-and-desist",
        "appeal-outcome",
        "end",
        "referral-form",
    ):
        assert kind in out
        assert kind in help_text


def test_render_is_rendered_from_the_same_blocks_everywhere(app: App) -> None:
    set_fields(app, "NV-1", status="warning")
    rendered = render_letter(
        app.factory,
        app.settings,
        "fair-treatment",
        "NV-1",
        LetterOptions(as_of=AS_OF),
        "pdf",
        now=NOW,
        operator="tester",
    )
    assert rendered.data.startswith(b"%PDF")
    assert "How we expect you to contact us" == rendered.letter.title
