"""Helpers for the letter tests: an arrangement with every letter field set, and the text of a
letter in each format (email parts, Word with its header and footer, PDF)."""

from __future__ import annotations

import io
import re
from datetime import date
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from html import unescape
from typing import Any

from sqlalchemy import select

from bot.bootstrap import App
from bot.store import models as m

LETTERS_SECTION = """
[letters]
emergency_phone = "0300 123 4567"
appeals_postal_address = [
    "Data Management Officer", "Northvale Homes", "1 High Street", "Northvale NV1 1AA",
]
signatory_name = "Priya Shah"
signatory_title = "Data Management Officer"
organisation_address = ["Northvale Homes", "1 High Street", "Northvale NV1 1AA"]
"""

LETTER_FIELDS: dict[str, Any] = {
    "reasons": "Between 1 September and 30 November 2026 you sent 212 emails to 14 staff.",
    "change_required": "Send your messages to your single point of contact only.",
    "support_needs": "Hearing impairment: prefers email.",
    "spoc_phone": "01632 960 123",
    "cover_phone": "01632 960 456",
    "office_visits": "Do not visit the Northvale one-stop shop without an appointment",
    "customer_address": "12 Mill Lane;Northvale;NV2 3BB",
    "channels": "email;phone",
    "contact_hours": "Mon-Fri 09:00-17:00",
    "max_contacts": "3/week",
    "review_months": 6,
    "start_date": date(2026, 12, 3),
    "review_date": date(2027, 6, 3),
    "decided_on": date(2026, 12, 3),
}


def set_fields(app: App, ref: str, **fields: Any) -> None:
    """Set the arrangement's letter fields directly (the register file gains these columns in
    another branch); ``spoc_name`` renames the SPOC."""
    with app.factory.begin() as session:
        arrangement = session.scalars(
            select(m.Arrangement).join(m.Customer).where(m.Customer.ref == ref)
        ).one()
        for key, value in {**LETTER_FIELDS, **fields}.items():
            if key == "spoc_name":
                arrangement.spoc.name = value
            elif key == "customer_name":
                arrangement.customer.name = value
            else:
                setattr(arrangement, key, value)


def normalise(text: str) -> str:
    return " ".join(text.split())


def email_text(raw: bytes) -> str:
    message = message_from_bytes(raw, policy=default_policy)
    assert isinstance(message, EmailMessage)
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and html is not None
    html_text = unescape(re.sub(r"<[^>]+>", " ", html.get_content()))
    return normalise(plain.get_content()) + "\n" + normalise(html_text)


def docx_text(data: bytes) -> str:
    import docx

    document = docx.Document(io.BytesIO(data))
    parts = []
    for section in document.sections:
        parts += [p.text for p in section.header.paragraphs]
        parts += [p.text for p in section.footer.paragraphs]
    parts += [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts += [cell.text for cell in row.cells]
    return normalise(" ".join(parts))


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    return normalise(" ".join(page.extract_text() for page in reader.pages))
