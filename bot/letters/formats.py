"""A composed letter in each of its forms: email (HTML and plain text), Word and PDF.

All three start from the same blocks (:mod:`bot.letters.blocks`).  The HTML is a Jinja2
template with autoescaping; the Word letter is the organisation's letterhead (docxtpl) with the
blocks as a sub-document in its ``{{p body }}`` placeholder; the PDF is drawn with reportlab in
DejaVu Sans when the font is installed (so "Zoë Łukasiewicz" prints), else in Helvetica with
the letters it lacks spelt without their accents.
"""

from __future__ import annotations

import io
import logging
import re
import unicodedata
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from bot.letters.blocks import to_text
from bot.letters.content import LETTER_TEMPLATES, LetterDocument, LetterError, render_template
from bot.mail.compose import Attachment, build_notice
from bot.mail.forward import OutgoingHeaders

log = logging.getLogger(__name__)

DEFAULT_LETTERHEAD = LETTER_TEMPLATES / "letterhead.docx"
REQUIRED_PLACEHOLDERS = frozenset({"body", "letter_date", "recipient_name", "recipient_address"})
OPTIONAL_PLACEHOLDERS = frozenset(
    {"organisation_name", "organisation_address", "reference", "title"}
)
FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))
FORMATS = ("eml", "docx", "pdf")


# -- email ----------------------------------------------------------------------------------


def to_html(letter: LetterDocument, templates_dir: Path | None = None) -> str:
    """The letter's HTML part, from ``_email.html.j2`` (the organisation's, if it has one):
    sandboxed and autoescaped; a broken one is a :class:`LetterError` naming it."""
    loaders = [FileSystemLoader(templates_dir)] if templates_dir else []
    env = SandboxedEnvironment(
        loader=ChoiceLoader([*loaders, FileSystemLoader(LETTER_TEMPLATES)]),
        undefined=StrictUndefined,
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return render_template(env, templates_dir, "_email.html.j2", {"letter": letter})


def to_plain(letter: LetterDocument) -> str:
    head = [letter.organisation, letter.date_text, f"Our reference: {letter.customer_ref}", ""]
    return "\n".join(head) + "\n" + to_text(letter.blocks)


def attachment_name(letter: LetterDocument, extension: str) -> str:
    return f"{letter.kind}-{letter.customer_ref}-{letter.letter_date.isoformat()}.{extension}"


def to_email(
    letter: LetterDocument,
    *,
    from_address: str,
    message_id: str,
    date: datetime,
    pdf: bytes | None = None,
    templates_dir: Path | None = None,
) -> bytes:
    """The letter as a complete email: HTML with a plain-text alternative, and the PDF attached
    (a copy to print or keep) when given.  Reply-To is the customer's permitted route, never
    the bot's own mailbox, which nobody reads."""
    headers = OutgoingHeaders(
        from_name=letter.organisation,
        from_address=from_address,
        to_name=letter.recipient_name,
        to_address=letter.recipient_email,
        subject=letter.title,
        message_id=message_id,
        date=date,
        kind="letter",
        reference=f"{letter.kind} {letter.customer_ref}",
    )
    attachments = (
        [Attachment(attachment_name(letter, "pdf"), pdf, "application", "pdf")] if pdf else []
    )
    return build_notice(
        headers,
        to_plain(letter),
        to_html(letter, templates_dir),
        attachments=attachments,
        reply_to=letter.reply_to,
    )


# -- Word -----------------------------------------------------------------------------------


def check_letterhead(path: Path) -> None:
    """Refuse a letterhead that is not a Word document or lacks a required placeholder."""
    from docx import Document
    from docxtpl import DocxTemplate

    if not path.is_file():
        raise LetterError(f"[letters] letterhead: {path} does not exist")
    try:
        names = DocxTemplate(path).get_undeclared_template_variables(_docx_env())
        paragraphs = [p.text for p in _all_paragraphs(Document(str(path)))]
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise LetterError(
            f"[letters] letterhead: {path} is not a Word .docx file ({exc})"
        ) from None
    except Exception as exc:  # a Jinja syntax error in the document, a broken part...
        raise LetterError(f"[letters] letterhead: {path} cannot be used: {exc}") from None
    missing = sorted(REQUIRED_PLACEHOLDERS - names)
    if missing:
        raise LetterError(
            f"[letters] letterhead: {path} lacks the placeholder(s) "
            f"{', '.join('{{ ' + n + ' }}' for n in missing)} (body as {{{{p body }}}} in a "
            "paragraph of its own); see templates/letters/README.md"
        )
    unknown = sorted(names - REQUIRED_PLACEHOLDERS - OPTIONAL_PLACEHOLDERS)
    if unknown:
        raise LetterError(
            f"[letters] letterhead: {path} uses placeholder(s) spocbot does not fill: "
            f"{', '.join(unknown)}; see templates/letters/README.md"
        )
    if not any(re.search(r"\{\{p\s+body\s*\}\}", text) for text in paragraphs):
        raise LetterError(
            f"[letters] letterhead: {path} must hold the body as {{{{p body }}}}, alone in a "
            "paragraph of the document's main text"
        )


def _all_paragraphs(document: Any) -> list[Any]:
    paragraphs = list(document.paragraphs)
    for table in document.tables:
        for row in table.rows:
            for cell in row.cells:
                paragraphs += cell.paragraphs
    return paragraphs


def _docx_env() -> Environment:
    return Environment(undefined=StrictUndefined, autoescape=True)


class _BodyMarker:
    """What ``{{p body }}`` is filled with: one paragraph holding a marker, which is then
    replaced by the letter's paragraphs (python-docx), in the letterhead's own styles."""

    text = "SPOCBOT-LETTER-BODY-6d1f0c"

    def __html__(self) -> str:
        return f"<w:p><w:r><w:t>{self.text}</w:t></w:r></w:p>"

    __str__ = __html__


def to_docx(letter: LetterDocument, letterhead: Path | None = None) -> bytes:
    """The letter on the organisation's letterhead (``[letters] letterhead``, or the built-in
    ``templates/letters/letterhead.docx``)."""
    from docxtpl import DocxTemplate, Listing

    path = letterhead or DEFAULT_LETTERHEAD
    check_letterhead(path)
    template = DocxTemplate(path)
    context = {
        "body": _BodyMarker(),
        "letter_date": letter.date_text,
        "recipient_name": letter.recipient_name,
        "recipient_address": Listing("\n".join(letter.recipient_address)),
        "organisation_name": letter.organisation,
        "organisation_address": Listing("\n".join(_address_lines(letter))),
        "reference": letter.customer_ref,
        "title": letter.title,
    }
    try:
        template.render(context, jinja_env=_docx_env(), autoescape=True)
    except Exception as exc:
        raise LetterError(f"[letters] letterhead: {path} cannot be filled in: {exc}") from None
    document = template.docx  # get_docx() would reload the unrendered file
    markers = [p for p in _all_paragraphs(document) if p.text == _BodyMarker.text]
    if len(markers) != 1:
        raise LetterError(
            f"[letters] letterhead: {path} must hold {{{{p body }}}} exactly once, in the "
            "document's main text"
        )
    _fill_body(document, markers[0], letter)
    properties = document.core_properties
    properties.title = letter.title
    properties.author = letter.organisation
    out = io.BytesIO()
    template.save(out)
    return out.getvalue()


def _fill_body(document: Any, marker: Any, letter: LetterDocument) -> None:
    styles = {style.name for style in document.styles}
    for block in letter.blocks:
        if block.kind in ("title", "heading"):
            style = "Heading 1" if block.kind == "title" else "Heading 2"
            if style in styles:
                marker.insert_paragraph_before(block.text, style=style)
            else:
                marker.insert_paragraph_before().add_run(block.text).bold = True
        elif block.kind == "bullets":
            for item in block.lines:
                if "List Bullet" in styles:
                    marker.insert_paragraph_before(item, style="List Bullet")
                else:
                    marker.insert_paragraph_before(f"•\t{item}")
        else:
            paragraph = marker.insert_paragraph_before()
            for number, line in enumerate(block.lines):
                run = paragraph.add_run(line)
                if number < len(block.lines) - 1:
                    run.add_break()
    element = marker._element
    element.getparent().remove(element)


def _address_lines(letter: LetterDocument) -> list[str]:
    """The organisation's address, without its name when the name is its first line (the
    letterhead prints the name already)."""
    address = list(letter.organisation_address)
    if address and address[0] == letter.organisation:
        address = address[1:]
    return address


# -- PDF ------------------------------------------------------------------------------------


def _fonts() -> tuple[str, str] | None:
    """Register DejaVu Sans (regular, bold) with reportlab; None when it is not installed."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    for directory in FONT_DIRS:
        regular, bold = directory / "DejaVuSans.ttf", directory / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            try:
                pdfmetrics.registerFont(TTFont("DejaVuSans", str(regular)))
                pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", str(bold)))
            except Exception:  # a damaged font file: fall back rather than fail the letter
                log.warning("cannot load the DejaVu fonts in %s", directory, exc_info=True)
                continue
            return "DejaVuSans", "DejaVuSans-Bold"
    return None


_NO_DECOMPOSITION = str.maketrans({"Ł": "L", "ł": "l", "Ø": "O", "ø": "o", "Đ": "D", "đ": "d"})


def latin1_fallback(text: str) -> str:
    """Text Helvetica can print: characters outside Latin-1 without their accents
    ("Łukasiewicz" as "Lukasiewicz"), or "?" when there is no plain letter."""
    out = []
    for char in text.translate(_NO_DECOMPOSITION):
        if ord(char) < 256:
            out.append(char)
            continue
        base = "".join(
            c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
        )
        out.append(base if base and all(ord(c) < 256 for c in base) else "?")
    return "".join(out)


def to_pdf(letter: LetterDocument) -> bytes:
    """The letter as an A4 PDF: the organisation's name and address, the recipient, the date
    and reference, then the blocks; page numbers in the footer.  Its creation date is the
    letter's date, so the same letter always gives the same bytes."""
    from reportlab.lib.enums import TA_RIGHT
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import ListFlowable, ListItem, Paragraph, SimpleDocTemplate, Spacer

    fonts = _fonts()
    if fonts is None:
        log.warning(
            "DejaVu Sans is not installed (Debian: fonts-dejavu-core); the PDF uses Helvetica "
            "and letters outside Latin-1 lose their accents"
        )
    regular, bold = fonts or ("Helvetica", "Helvetica-Bold")
    printable = latin1_fallback if fonts is None else str

    def clean(text: str) -> str:
        return xml_escape(printable(text))

    base = ParagraphStyle("body", fontName=regular, fontSize=10.5, leading=14.5, spaceAfter=7)
    styles = {
        "org": ParagraphStyle("org", base, fontName=bold, fontSize=14, alignment=TA_RIGHT),
        "orgline": ParagraphStyle(
            "orgline", base, fontSize=9, leading=12, spaceAfter=0, alignment=TA_RIGHT
        ),
        "title": ParagraphStyle(
            "title", base, fontName=bold, fontSize=14, leading=18, spaceBefore=8, spaceAfter=10
        ),
        "heading": ParagraphStyle(
            "heading",
            base,
            fontName=bold,
            fontSize=11.5,
            spaceBefore=8,
            spaceAfter=4,
            keepWithNext=1,
        ),
        "body": base,
        "address": ParagraphStyle("address", base, spaceAfter=0),
    }
    story: list[Any] = [Paragraph(clean(letter.organisation), styles["org"])]
    story += [Paragraph(clean(line), styles["orgline"]) for line in _address_lines(letter)]
    story.append(Spacer(1, 10 * mm))
    recipient = [letter.recipient_name, *letter.recipient_address]
    story.append(Paragraph("<br/>".join(clean(line) for line in recipient), styles["address"]))
    story.append(Spacer(1, 8 * mm))
    story.append(Paragraph(clean(letter.date_text), styles["body"]))
    story.append(Paragraph(clean(f"Our reference: {letter.customer_ref}"), styles["body"]))
    for block in letter.blocks:
        if block.kind in ("title", "heading"):
            story.append(Paragraph(clean(block.text), styles[block.kind]))
        elif block.kind == "bullets":
            items = [
                ListItem(Paragraph(clean(i), styles["body"]), leftIndent=14) for i in block.lines
            ]
            story.append(
                ListFlowable(
                    items, bulletType="bullet", start="•", bulletFontName=regular, leftIndent=14
                )
            )
        else:
            story.append(Paragraph("<br/>".join(clean(x) for x in block.lines), styles["body"]))

    footer = printable(f"{letter.organisation} · {letter.customer_ref}")

    created = f"D:{letter.letter_date:%Y%m%d}000000+00'00'"  # the letter's date, not the clock

    def on_page(canvas: Any, doc: Any) -> None:
        canvas.setDateFormatter(lambda *_: created)
        canvas.saveState()
        canvas.setFont(regular, 8)
        canvas.drawString(20 * mm, 12 * mm, footer)
        canvas.drawRightString(A4[0] - 20 * mm, 12 * mm, f"Page {doc.page}")
        canvas.restoreState()

    out = io.BytesIO()
    document = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=18 * mm,
        bottomMargin=22 * mm,
        title=printable(letter.title),
        author=letter.organisation,
        invariant=True,  # the same letter gives the same bytes (no clock, no random ids)
    )
    document.build(story, onFirstPage=on_page, onLaterPages=on_page)
    return out.getvalue()


def render(
    letter: LetterDocument,
    fmt: str,
    *,
    from_address: str,
    message_id: str,
    date: datetime,
    letterhead: Path | None = None,
    templates_dir: Path | None = None,
    attach_pdf: bool = True,
) -> bytes:
    """The letter in format ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "docx":
        return to_docx(letter, letterhead)
    if fmt == "pdf":
        return to_pdf(letter)
    if fmt == "eml":
        return to_email(
            letter,
            from_address=from_address,
            message_id=message_id,
            date=date,
            pdf=to_pdf(letter) if attach_pdf else None,
            templates_dir=templates_dir,
        )
    raise ValueError(f"unknown format {fmt!r}")
