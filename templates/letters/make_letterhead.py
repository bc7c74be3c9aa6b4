"""Build the built-in Word letterhead, ``letterhead.docx``, with python-docx.

Run it again after changing it (``.venv/bin/python templates/letters/make_letterhead.py``); the
result is committed.  An organisation's own letterhead made in Word works the same way if it
holds the placeholders listed in README.md beside this file.
"""

from __future__ import annotations

import sys
from pathlib import Path

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Mm, Pt, RGBColor


def build(target: Path) -> None:
    document = Document()
    section = document.sections[0]
    section.page_height, section.page_width = Mm(297), Mm(210)
    section.left_margin = section.right_margin = Mm(20)
    section.top_margin, section.bottom_margin = Mm(18), Mm(20)

    normal = document.styles["Normal"]
    normal.font.name = "Arial"
    normal.font.size = Pt(11)

    header = section.header
    name = header.paragraphs[0]
    name.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    run = name.add_run("{{ organisation_name }}")
    run.bold = True
    run.font.size = Pt(16)
    run.font.color.rgb = RGBColor(0x1F, 0x3A, 0x5F)
    address = header.add_paragraph()
    address.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    address.add_run("{{ organisation_address }}").font.size = Pt(9)

    footer = section.footer.paragraphs[0]
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    small = footer.add_run("{{ organisation_name }} · Our reference: {{ reference }}")
    small.font.size = Pt(8)

    document.add_paragraph("{{ recipient_name }}").paragraph_format.space_after = Pt(0)
    document.add_paragraph("{{ recipient_address }}")
    document.add_paragraph()
    document.add_paragraph("{{ letter_date }}").paragraph_format.space_after = Pt(0)
    document.add_paragraph("Our reference: {{ reference }}")
    document.add_paragraph("{{p body }}")
    document.core_properties.title = "Letterhead"
    document.core_properties.author = "spocbot"
    document.save(str(target))


if __name__ == "__main__":
    build(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("letterhead.docx"))
