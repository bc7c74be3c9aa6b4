"""Possible matches: mail from an unknown address that may be a registered customer's.

A customer under a restriction who writes from a new address is still under it, but the
address alone cannot show that.  Two signs are strong enough for a person to look (never for
the machine to decide): the customer's reference written as a whole word anywhere in the
subject or text, or the customer's full name in the closing lines of what the sender wrote
(their sign-off, not the quoted message they are answering).

:class:`PossibleMatchIndex` is built once per register snapshot so that a message costs one
pass over its words, however many arrangements there are.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

CLOSING_LINES = 8
"""How many non-empty lines at the end of the sender's own text count as its sign-off."""

MAX_NAME_WORDS = 5

_WORD = re.compile(r"[^\W_]+(?:[-/_.][^\W_]+)*")
"""A reference-like word: letters and digits, joined by - / _ . inside (``NV-1001``)."""

_DIGIT = re.compile(r"\d")

_NAME_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")

_QUOTE_START = re.compile(
    r"^(?:on\b.{0,200}\bwrote:\s*$"  # On Tue, 3 Dec 2026, Housing <...> wrote:
    r"|-{2,}\s*original message\s*-{2,}"  # Outlook (plain text)
    r"|_{10,}\s*$"  # Outlook (HTML) separator above the quoted header block
    r"|from:\s.+\n\s*(?:sent|date):\s)",  # Outlook's quoted header block
    re.IGNORECASE | re.MULTILINE,
)


@dataclass(frozen=True)
class PossibleMatch:
    """One customer the message may be from, and what suggests it."""

    customer_ref: str
    why: str


def searchable_ref(ref: str) -> bool:
    """Whether ``ref`` is distinctive enough to search for in free text.

    A reference that is short or only a few digits (``42``, ``1001``) turns up in dates,
    amounts and phone numbers, and would fill the review queue with noise.
    """
    if not _WORD.fullmatch(ref):
        return False
    has_letter = any(c.isalpha() for c in ref)
    has_digit = any(c.isdigit() for c in ref)
    return (len(ref) >= 4 and has_letter and has_digit) or (ref.isdigit() and len(ref) >= 6)


def normalise_name(name: str) -> str:
    """A full name as compared: accents kept, case and spacing ignored (``"Jo  SMITH"``)."""
    words = _NAME_WORD.findall(unicodedata.normalize("NFC", name).casefold())
    return " ".join(words)


def own_text(body: str) -> str:
    """What the sender wrote: the text before the first quoted message or quoted lines."""
    match = _QUOTE_START.search(body)
    text = body[: match.start()] if match else body
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(">"))


def closing_lines(body: str) -> list[str]:
    """The last :data:`CLOSING_LINES` non-empty lines of the sender's own text."""
    lines = [line.strip() for line in own_text(body).splitlines() if line.strip()]
    return lines[-CLOSING_LINES:]


class PossibleMatchIndex:
    """Customer references and full names of the customers who may be written about."""

    def __init__(self, customers: Iterable[tuple[str, str]]) -> None:
        """``customers``: (customer_ref, customer_name) of every arrangement still in force."""
        self._refs: dict[str, str] = {}
        self._names: dict[str, list[str]] = {}
        for ref, name in customers:
            if searchable_ref(ref):
                self._refs[ref.casefold()] = ref
            key = normalise_name(name)
            if 2 <= key.count(" ") + 1 <= MAX_NAME_WORDS:
                self._names.setdefault(key, []).append(ref)

    def __bool__(self) -> bool:
        return bool(self._refs or self._names)

    def in_subject(self, subject: str) -> list[PossibleMatch]:
        return self._refs_in(subject, "in the subject")

    def in_message(self, subject: str, body: str) -> list[PossibleMatch]:
        """Every customer ``subject`` and ``body`` point to, in the order first found."""
        found = self._refs_in(subject, "in the subject") + self._refs_in(body, "in the text")
        for line in closing_lines(body):
            words = _NAME_WORD.findall(unicodedata.normalize("NFC", line).casefold())
            for size in range(2, MAX_NAME_WORDS + 1):
                for start in range(len(words) - size + 1):
                    for ref in self._names.get(" ".join(words[start : start + size]), ()):
                        found.append(PossibleMatch(ref, "signed with the customer's name"))
        unique: dict[str, PossibleMatch] = {}
        for match in found:
            unique.setdefault(match.customer_ref, match)
        return list(unique.values())

    def _refs_in(self, text: str, where: str) -> list[PossibleMatch]:
        if not self._refs or not _DIGIT.search(text):  # every searchable ref has a digit
            return []
        return [
            PossibleMatch(ref, f"mentions the customer reference {ref} {where}")
            for word in _WORD.findall(text)
            if (ref := self._refs.get(word.casefold())) is not None
        ]
