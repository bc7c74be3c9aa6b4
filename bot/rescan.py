"""``spocbot rescan``: read watched folders again from a date, on the next pass.

For when the register arrived after the mail did (a first pass before the import, a customer
added late): every message received since the date is decided again by the next pass.  What
was already recorded is not repeated — breaches, contacts, forwards and acknowledgements are
each kept once per message — so a rescan can only add what was missed.

On IMAP the folder's cursor moves back to the first message received on or after the date.
On Graph the folder's delta query starts again from that date, and the messages it reports
that were already seen are handed over again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.audit import audit
from bot.config import Mailbox
from bot.mail.graph import GraphMailbox
from bot.mail.ports import MailStore
from bot.store import models as m


@dataclass(frozen=True)
class Rescanned:
    mailbox: str
    folder: str
    detail: str


def rescan(
    factory: sessionmaker[Session],
    stores: dict[str, MailStore],
    mailboxes: Iterable[Mailbox],
    since: datetime,
    *,
    operator: str,
) -> list[Rescanned]:
    done = []
    for mailbox in mailboxes:
        store = stores[mailbox.address]
        for folder in mailbox.folders:
            if isinstance(store, GraphMailbox):
                seen = store.rescan(folder, since)
                detail = f"{seen} message(s) already seen will be decided again, with any new"
            else:
                detail = _move_cursor_back(factory, store, mailbox.address, folder, since)
            done.append(Rescanned(mailbox.address, folder, detail))
    with factory.begin() as session:
        audit(
            session,
            operator,
            "folders.rescan",
            f"{len(done)} folder(s)",
            details=f"from {since.date().isoformat()}: "
            + ", ".join(f"{r.mailbox}/{r.folder}" for r in done),
        )
    return done


def _move_cursor_back(
    factory: sessionmaker[Session], store: MailStore, mailbox: str, folder: str, since: datetime
) -> str:
    state = store.select(folder)
    start = store.start_uid(folder, since)
    with factory.begin() as session:
        cursor = session.scalar(
            select(m.MailboxCursor).where(
                m.MailboxCursor.mailbox == mailbox, m.MailboxCursor.folder == folder
            )
        )
        if cursor is None or cursor.uidvalidity != state.uidvalidity:
            cursor = cursor or m.MailboxCursor(mailbox=mailbox, folder=folder)
            cursor.uidvalidity, cursor.last_uid = state.uidvalidity, start
            session.add(cursor)
            return f"will be read from UID {start + 1}"
        again = max(0, cursor.last_uid - start)
        cursor.last_uid = min(cursor.last_uid, start)
        return f"{again} message(s) already seen will be decided again, with any new"
