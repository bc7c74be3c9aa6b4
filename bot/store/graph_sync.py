"""The Graph adapter's own bookkeeping in the database: delta links and message numbers.

:class:`GraphSyncStore` keeps, per watched folder, the link its delta query resumes from,
and numbers every message the query reports so that the watcher's ``(UIDVALIDITY, UID)``
cursor works on Graph as it does on IMAP (see :class:`bot.store.models.GraphMessage`).

Each page of a delta round is recorded in one transaction together with the link to the
next page, so a crash mid-round resumes from the page after the last one recorded, and a
message is numbered before anything is done with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.store import models as m

UIDVALIDITY = 1  # message numbers are never reused in a folder, so this never changes


@dataclass(frozen=True)
class FolderLink:
    link: str  # "" before the first round
    complete: bool  # a deltaLink (round finished) rather than a nextLink
    followed_since: datetime | None = None  # when the folder last moved on; None: never


@dataclass(frozen=True)
class Reported:
    """A message as a delta page reports it."""

    graph_id: str
    received_at: datetime
    size: int


@dataclass(frozen=True)
class Numbered:
    uid: int
    graph_id: str
    received_at: datetime
    size: int


class GraphSyncStore:
    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory

    def link(self, mailbox: str, folder: str) -> FolderLink:
        with self._factory() as session:
            row = self._folder(session, mailbox, folder)
            if row is None:
                return FolderLink("", False)
            return FolderLink(row.link, row.complete, row.updated_at)

    def record_page(
        self,
        mailbox: str,
        folder: str,
        reported: Sequence[Reported],
        removed: Sequence[str],
        link: str,
        *,
        complete: bool,
    ) -> list[Numbered]:
        """Number the messages not seen in this folder before, note removals and move the
        folder's link on, in one transaction; returns the newly numbered messages."""
        with self._factory.begin() as session:
            row = self._folder(session, mailbox, folder)
            if row is None:
                row = m.GraphFolderSync(mailbox=mailbox, folder=folder, resyncs=0)
                session.add(row)
            ids = [r.graph_id for r in reported]
            known = {
                row.graph_id: row
                for row in session.scalars(
                    select(m.GraphMessage).where(
                        m.GraphMessage.mailbox == mailbox,
                        m.GraphMessage.folder == folder,
                        m.GraphMessage.graph_id.in_(ids),
                    )
                )
            }
            uid = self._max_uid(session, mailbox, folder)
            numbered = []
            for message in reported:
                seen = known.get(message.graph_id)
                if seen is not None and (seen.rescan or seen.removed):
                    # `spocbot rescan`, or back in the folder after it left (perhaps before it
                    # was handled): hand it over again; what was recorded is not repeated.
                    uid += 1
                    _renumber(session, mailbox, folder, seen.uid, uid)
                    seen.uid, seen.rescan, seen.removed = uid, False, False
                    numbered.append(Numbered(uid, seen.graph_id, seen.received_at, seen.size))
                    continue
                if seen is not None:
                    continue  # a replay, or an update of a message already handed over
                uid += 1
                session.add(
                    m.GraphMessage(
                        mailbox=mailbox,
                        folder=folder,
                        graph_id=message.graph_id,
                        uid=uid,
                        received_at=message.received_at,
                        size=message.size,
                        removed=False,
                    )
                )
                numbered.append(Numbered(uid, message.graph_id, message.received_at, message.size))
            if removed:
                self._set_removed(session, mailbox, folder, removed)
            row.link, row.complete = link, complete
            return numbered

    def rescan(self, mailbox: str, folder: str, since: datetime, first_link: str) -> int:
        """Read the folder again from ``first_link`` (a first delta request from ``since``):
        messages received since then are handed over again when it reports them.  Returns
        how many numbered messages that covers."""
        with self._factory.begin() as session:
            marked = session.execute(
                update(m.GraphMessage)
                .where(
                    m.GraphMessage.mailbox == mailbox,
                    m.GraphMessage.folder == folder,
                    m.GraphMessage.received_at >= since,
                )
                .values(rescan=True)
            )
            row = self._folder(session, mailbox, folder)
            if row is None:
                row = m.GraphFolderSync(mailbox=mailbox, folder=folder, resyncs=0)
                session.add(row)
            row.link, row.complete = first_link, False
            count: int = marked.rowcount  # type: ignore[attr-defined]
            return count

    def restart(self, mailbox: str, folder: str) -> None:
        """Forget the folder's link (it expired): the next round reads it from the start,
        and the messages already numbered are recognised and not handed over again."""
        with self._factory.begin() as session:
            row = self._folder(session, mailbox, folder)
            if row is not None:
                row.link, row.complete = "", False
                row.resyncs += 1

    def after(self, mailbox: str, folder: str, last_uid: int) -> list[Numbered]:
        """Messages numbered after ``last_uid`` that are still in the folder, in order."""
        with self._factory() as session:
            rows = session.execute(
                select(
                    m.GraphMessage.uid,
                    m.GraphMessage.graph_id,
                    m.GraphMessage.received_at,
                    m.GraphMessage.size,
                )
                .where(
                    m.GraphMessage.mailbox == mailbox,
                    m.GraphMessage.folder == folder,
                    m.GraphMessage.uid > last_uid,
                    m.GraphMessage.removed.is_(False),
                )
                .order_by(m.GraphMessage.uid)
            )
            return [Numbered(*row) for row in rows]

    def newest(self, mailbox: str, folder: str) -> tuple[int, int]:
        """(the highest number still in the folder, how many are in it) for ``select``."""
        with self._factory() as session:
            highest, count = session.execute(
                select(func.max(m.GraphMessage.uid), func.count(m.GraphMessage.id)).where(
                    m.GraphMessage.mailbox == mailbox,
                    m.GraphMessage.folder == folder,
                    m.GraphMessage.removed.is_(False),
                )
            ).one()
            return int(highest or 0), int(count)

    def graph_ids(self, mailbox: str, folder: str, uids: Sequence[int]) -> dict[int, str]:
        with self._factory() as session:
            rows = session.execute(
                select(m.GraphMessage.uid, m.GraphMessage.graph_id).where(
                    m.GraphMessage.mailbox == mailbox,
                    m.GraphMessage.folder == folder,
                    m.GraphMessage.uid.in_(list(uids)),
                )
            )
            return {uid: graph_id for uid, graph_id in rows}

    def mark_removed(self, mailbox: str, folder: str, graph_ids: Sequence[str]) -> None:
        with self._factory.begin() as session:
            self._set_removed(session, mailbox, folder, graph_ids)

    @staticmethod
    def _set_removed(session: Session, mailbox: str, folder: str, graph_ids: Sequence[str]) -> None:
        session.execute(
            update(m.GraphMessage)
            .where(
                m.GraphMessage.mailbox == mailbox,
                m.GraphMessage.folder == folder,
                m.GraphMessage.graph_id.in_(list(graph_ids)),
            )
            .values(removed=True)
        )

    @staticmethod
    def _folder(session: Session, mailbox: str, folder: str) -> m.GraphFolderSync | None:
        return session.scalar(
            select(m.GraphFolderSync).where(
                m.GraphFolderSync.mailbox == mailbox, m.GraphFolderSync.folder == folder
            )
        )

    @staticmethod
    def _max_uid(session: Session, mailbox: str, folder: str) -> int:
        highest = session.scalar(
            select(func.max(m.GraphMessage.uid)).where(
                m.GraphMessage.mailbox == mailbox, m.GraphMessage.folder == folder
            )
        )
        return int(highest or 0)


_KEYED_BY_NUMBER = (m.ProcessedMessage, m.ReviewItem, m.Quarantine, m.ExpiredCopy)
"""What the watcher keeps once per (mailbox, folder, number): the same message again."""


def _renumber(session: Session, mailbox: str, folder: str, old: int, new: int) -> None:
    """A message handed over again under a new number keeps what was recorded under its old
    one, so that a rescan does not put it in the review queue or quarantine a second time,
    nor bring back an entry the retention purge or an erasure deleted (``expired_copies``)."""
    for model in _KEYED_BY_NUMBER:
        session.execute(
            update(model)
            .where(model.mailbox == mailbox, model.folder == folder, model.uid == old)
            .values(uid=new),
            execution_options={"synchronize_session": False},
        )
