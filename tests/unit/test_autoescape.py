"""Everything the product writes as HTML is autoescaped: a customer named
``<script>alert(1)</script>`` is printed as text in the reminder, the two digests and the
letter email, never as markup.  (The forward's cover note and the acknowledgement are plain
text only: they have no HTML part to inject into.)"""

from __future__ import annotations

from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import select

from bot.digests import BREACHES, REVIEWS
from bot.store import models as m
from bot.templating import DEFAULT_TEMPLATES, Templates
from tests.schedtest import Harness, row
from tests.unit.test_digests import add_breach

HOSTILE = "<script>alert(1)</script> & <b>Co</b>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;Co&lt;/b&gt;"


def html_of(message: EmailMessage) -> str:
    body = message.get_body(("html",))
    assert body is not None, "the message has an HTML part"
    return str(body.get_content())


def hostile_harness(tmp_path: Path, review: str = "2027-01-20") -> Harness:
    h = Harness(tmp_path, [row("C-1", review=review)])
    with h.app.factory.begin() as session:
        session.scalars(select(m.Customer)).one().name = HOSTILE
    return h


def assert_escaped(html: str) -> None:
    assert "<script>" not in html and "<b>Co</b>" not in html
    assert ESCAPED in html


def test_every_html_template_is_autoescaped() -> None:
    """Any ``.html.j2`` added later is escaped too: the rule is by file name."""
    templates = Templates()
    names = [str(p.relative_to(DEFAULT_TEMPLATES)) for p in DEFAULT_TEMPLATES.rglob("*.html.j2")]
    assert len(names) >= 3
    for name in names:
        rendered = templates._env.get_template(name).environment.autoescape
        assert callable(rendered) and rendered(name), name


def test_a_reminder_prints_a_hostile_name_as_text(tmp_path: Path) -> None:
    h = hostile_harness(tmp_path, review="2027-01-20")
    h.at(date(2027, 1, 6))  # 14 days before the review
    h.daemon.tick()

    reminders = h.sent("reminder")
    assert reminders, "a reminder was sent"
    for reminder in reminders:
        assert_escaped(html_of(reminder))


def test_the_reviews_digest_prints_a_hostile_name_as_text(tmp_path: Path) -> None:
    h = hostile_harness(tmp_path, review="2027-01-01")  # overdue: listed by name
    h.at(date(2027, 1, 11), "09:00")

    h.daemon.digests.run(REVIEWS)
    h.daemon.deliver()

    (digest,) = h.sent("digest")
    assert_escaped(html_of(digest))


def test_the_breaches_digest_prints_a_hostile_name_as_text(tmp_path: Path) -> None:
    h = hostile_harness(tmp_path)
    add_breach(h, "C-1", datetime(2027, 1, 5, 12, 0, tzinfo=UTC), "bypassed-spoc")
    h.at(date(2027, 1, 6), "08:00")

    h.daemon.digests.run(BREACHES)
    h.daemon.deliver()

    (digest,) = h.sent("digest")
    assert_escaped(html_of(digest))


def test_no_html_template_turns_escaping_off() -> None:
    """``|safe`` or ``autoescape false`` would print a value as markup: none of the HTML
    templates (the letters' email included) uses them."""
    found = [
        str(path.relative_to(DEFAULT_TEMPLATES))
        for path in DEFAULT_TEMPLATES.rglob("*.html.j2")
        if "|safe" in (text := path.read_text().replace(" ", "")) or "autoescapefalse" in text
    ]
    assert [] == found
