"""Partner entries: the partner council's own arrangements, imported by ``spocbot share
import`` (``Customer.source == "partner"``).  They route mail as ours do, but are read-only
here: every command that edits a register entry refuses them with :func:`read_only_message`.

Kept apart from :mod:`bot.sharing` (which imports the letters' wording and the register
service) so that the lifecycle, the letters and the register import can refuse a partner
entry without importing each other.
"""

from __future__ import annotations

from bot.errors import DomainError
from bot.store import models as m

PARTNER = "partner"
"""``Customer.source`` of a partner's entry (ours are ``"register"``)."""


def read_only_message(ref: str, partner: str) -> str:
    """The refusal every command that edits a register entry gives for a partner's entry."""
    return (
        f"{ref} is {partner}'s arrangement, imported by `spocbot share import`; "
        "it is read-only here"
    )


class PartnerEntryError(DomainError):
    """An edit of a partner's arrangement, which is read-only here."""


def refuse_partner(customer: m.Customer) -> None:
    """Raise :class:`PartnerEntryError` if ``customer`` is a partner's (read-only) entry."""
    if customer.source == PARTNER:
        raise PartnerEntryError(read_only_message(customer.ref, customer.partner))
